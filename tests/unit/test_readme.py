"""The README stays true to the code: its commands exist, its scenario table names every scenario."""

from __future__ import annotations

import re
import subprocess
import sys

import click

from fraudguard.cli import cli
from fraudguard.cli.reference import cli_markdown
from fraudguard.simulate.scenarios import SCENARIOS
from tests.conftest import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()


def test_the_two_commands_are_the_makefile_targets_and_ci_runs_the_test_one():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    assert "make test" in (PROJECT_ROOT / ".ci" / "run").read_text()


def test_every_cli_command_group_in_the_readme_exists():
    documented = set(re.findall(r"`fraudguard (\w+)", README))
    commands = set(cli.list_commands(click.Context(cli)))
    assert documented <= commands, documented - commands
    assert commands <= documented, "a command is missing from the README"


def test_a_command_imports_only_what_it_needs():
    """`fraudguard stream status` must not pay for training's imports (seconds on every call)."""
    probe = (
        "import sys; from fraudguard.cli import cli; import click; "
        "cli.get_command(click.Context(cli), 'stream'); "
        "print(sorted({'pyspark', 'pyspark.ml', 'xgboost', 'sklearn', 'mlflow'} & set(sys.modules)))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout


def test_every_fraud_scenario_is_documented_with_its_signal():
    for name in SCENARIOS:
        assert f"| `{name}` |" in README, name


def test_the_command_line_reference_is_generated_from_the_commands():
    generated = cli_markdown(cli)
    assert "## `fraudguard stream start`" in generated and "`--detach`" in generated
    assert (PROJECT_ROOT / "docs" / "cli.md").read_text() == generated, (
        "docs/cli.md is stale: `fraudguard docs cli > docs/cli.md`"
    )
