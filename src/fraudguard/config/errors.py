"""Turns pydantic validation errors into one message: where, which key, what was expected."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails


class ConfigError(Exception):
    """Bad configuration; raised before anything starts. The message is meant for the user as is."""


_EXPECTED = {
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "dict_type": "expected a mapping of keys to values",
    "model_type": "expected a mapping of keys to values",
    "model_attributes_type": "expected a mapping of keys to values",
    "path_type": "expected a path",
    "missing": "a required value is missing",
}


def format_validation_error(
    error: ValidationError, model: type[BaseModel], source_of: dict[tuple[str, ...], str]
) -> str:
    """One line per problem: `<source>: <key.path>: <what was expected>, got <value>`.

    `source_of` maps key paths set from the environment to the variable's name; any other key
    path is attributed to the longest matching prefix, falling back to the config file.
    """
    lines = [_format_one(detail, model, source_of) for detail in error.errors()]
    header = "invalid configuration" + (f" ({len(lines)} problems)" if len(lines) > 1 else "")
    return header + ":\n" + "\n".join(f"  {line}" for line in lines)


def _format_one(detail: ErrorDetails, model: type[BaseModel], source_of: dict[tuple[str, ...], str]) -> str:
    path = tuple(str(part) for part in detail["loc"])
    source = _source(path, source_of)
    key = ".".join(path) if path else "(top level)"
    return f"{source}: {key}: {_describe(detail, model, path)}"


def _source(path: tuple[str, ...], source_of: dict[tuple[str, ...], str]) -> str:
    for length in range(len(path), -1, -1):
        if path[:length] in source_of:
            return source_of[path[:length]]
    return source_of[()]


def _describe(detail: ErrorDetails, model: type[BaseModel], path: tuple[str, ...]) -> str:
    kind = detail["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, path[:-1])
        return "unknown key" + (f" (expected one of: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return _EXPECTED[kind]
    if kind == "literal_error":
        expected = f"expected one of {detail['ctx']['expected']}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        op = {
            "greater_than_equal": ">=",
            "less_than_equal": "<=",
            "greater_than": ">",
            "less_than": "<",
        }
        bound = next(iter(detail["ctx"].values()))
        expected = f"expected a number {op[kind]} {bound}"
    elif kind == "string_pattern_mismatch":
        expected = f"expected text matching {detail['ctx']['pattern']}"
    elif kind == "string_too_short":
        expected = "expected a non-empty string"
    elif kind == "value_error":
        return str(detail["ctx"]["error"])
    else:
        expected = _EXPECTED.get(kind, detail["msg"][0].lower() + detail["msg"][1:])
    return f"{expected}, got {_show(detail.get('input'), path)}"


def _show(value: Any, path: tuple[str, ...]) -> str:
    if any(word in part for part in path for word in ("password", "secret", "token")):
        return "(hidden)"
    if isinstance(value, dict | list):
        return type(value).__name__
    return repr(value)


def _allowed_keys(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """Walk the model tree along `path` to list the keys that are valid there."""
    current: Any = model
    for part in path:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return sorted(getattr(current, "model_fields", {}))
