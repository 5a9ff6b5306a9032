"""The configuration reference (`docs/configuration.md`), rendered from the settings' JSON schema so
that it cannot drift from the code: every key with its type, limits, default and description."""

from __future__ import annotations

import json
from typing import Any

from fraudguard.config.model import Settings

HEADER = """# Configuration reference

Every key of `config/platform.yaml`, generated from the code by `fraudguard docs config`. A key
`a.b` is overridden from the environment as `FRAUDGUARD__A__B`; secrets (marked *secret*) are read
from the environment only. Relative paths are relative to the config file's folder, and
`{runtime_dir}` in a location stands for the resolved `runtime_dir`.
"""
LIMITS = {"minimum": "≥", "exclusiveMinimum": ">", "maximum": "≤", "exclusiveMaximum": "<",
          "minLength": "length ≥"}  # fmt: skip


def reference_markdown() -> str:
    schema = Settings.model_json_schema(mode="serialization")
    definitions = schema["$defs"]
    parts = [HEADER, "| key | type | default | description |", "|---|---|---|---|"]
    parts += _rows(schema, definitions, "", {})
    for name, field in schema["properties"].items():
        section = _section(field, definitions)
        if section is not None:
            parts += ["", f"## `{name}`", "", section.get("description", "")]
            parts += ["", "| key | type | default | description |", "|---|---|---|---|"]
            parts += _rows(section, definitions, f"{name}.", field.get("default", {}))
    return "\n".join(parts) + "\n"


def _section(field: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any] | None:
    ref = field.get("$ref")
    return definitions[ref.rsplit("/", 1)[-1]] if ref else None


def _rows(model: dict[str, Any], definitions: dict[str, Any], prefix: str, defaults: dict) -> list[str]:
    """One row per leaf key; a nested section's keys under its name, with the defaults its parent gives."""
    rows = []
    for name, field in model["properties"].items():
        default = defaults.get(name, field.get("default"))
        nested = _section(field, definitions)
        if nested is not None:
            if prefix:
                rows += _rows(nested, definitions, f"{prefix}{name}.", default or {})
            continue
        text = field.get("description", "").replace("|", "\\|")
        shown = "" if "default" not in field and name not in defaults else f"`{json.dumps(default)}`"
        rows.append(f"| `{prefix}{name}` | {_type(field)} | {shown} | {text} |")
    return rows


def _type(field: dict[str, Any]) -> str:
    options = field.get("anyOf", [field])
    kinds = [_kind(option) for option in options]
    return " or ".join(kinds).replace("|", "\\|")


def _kind(option: dict[str, Any]) -> str:
    if option.get("format") == "password":
        return "*secret*"
    if "enum" in option:
        return "one of " + ", ".join(f"`{value}`" for value in option["enum"])
    kind = option.get("type", "any")
    if kind == "array":
        kind = f"list of {_kind(option.get('items', {}))}"
    elif kind == "object":
        kind = "mapping"
    elif option.get("format"):
        kind = option["format"]
    limits = [f"{word} {option[key]}" for key, word in LIMITS.items() if key in option]
    if "pattern" in option:
        limits.append(f"matching `{option['pattern']}`")
    return f"{kind} ({', '.join(limits)})" if limits else kind
