"""The command-line reference (`docs/cli.md`), rendered from the click commands themselves so that it
cannot drift from the code: every command with its usage, help and options."""

from __future__ import annotations

import inspect

import click

HEADER = """# Command-line reference

Every `fraudguard` command, generated from the code by `fraudguard docs cli`. Each takes the global
`--config PATH` (default `./config/platform.yaml`, or `$FRAUDGUARD_CONFIG`) before the command name.
"""


def cli_markdown(root: click.Group) -> str:
    parts = [HEADER.rstrip()]
    parts += _commands(root, click.Context(root, info_name="fraudguard"))
    return "\n".join(parts) + "\n"


def _commands(group: click.Group, context: click.Context) -> list[str]:
    lines: list[str] = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        inner = click.Context(command, info_name=name, parent=context)
        if isinstance(command, click.Group):
            lines += _commands(command, inner)
        else:
            lines += _command(command, inner)
    return lines


def _command(command: click.Command, context: click.Context) -> list[str]:
    lines = ["", f"## `{context.command_path}`", ""]
    usage = command.get_usage(context).removeprefix("Usage: ")
    lines += [inspect.cleandoc(command.help or ""), "", "```", usage, "```"]
    options = [
        record
        for param in command.get_params(context)
        if "--help" not in param.opts and (record := param.get_help_record(context))
    ]
    if options:
        lines += ["", "| option | description |", "|---|---|"]
        lines += [f"| `{flags}` | {_cell(text)} |" for flags, text in options]
    return lines


def _cell(text: str) -> str:
    """Text inside a Markdown table cell (a `|` would end the cell)."""
    return text.replace("|", "\\|")
