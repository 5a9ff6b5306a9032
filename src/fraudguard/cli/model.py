"""`fraudguard train`, `fraudguard evaluate`, `fraudguard model show|promote`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from fraudguard.cli.context import CliContext, CliError, console
from fraudguard.paths import RuntimePaths
from fraudguard.train.pipeline import DEFAULT_FEATURE_SET, FEATURE_SETS

HEADLINE = ("auc_pr", "auc_roc", "card_precision_at_100", "precision_at_threshold", "recall_at_threshold",
            "alerts_per_day", "threshold")  # fmt: skip


def _dataset(obj: CliContext, dataset: Path | None):
    """A simulated dataset, or an imported one (`fraudguard data import`), by folder or by name."""
    from fraudguard.train.imported import ImportedDataset
    from fraudguard.train.job import Dataset

    path = dataset or RuntimePaths(obj.settings.runtime_dir).datasets / "faker"
    if not path.exists() and dataset is not None and len(dataset.parts) == 1:
        path = RuntimePaths(obj.settings.runtime_dir).datasets / dataset.name
    if not path.exists():
        raise CliError(
            f"no dataset at {path}; create one with `fraudguard simulate batch --out {path}` "
            "or `fraudguard data import`"
        )
    return ImportedDataset(path) if ImportedDataset.at(path) else Dataset(path)


@click.command()
@click.option(
    "--dataset",
    type=click.Path(file_okay=False, path_type=Path),
    help="A dataset folder, or an imported dataset's name. Default: var/datasets/faker.",
)
@click.option(
    "--feature-set", type=click.Choice(list(FEATURE_SETS)), default=DEFAULT_FEATURE_SET, show_default=True
)
@click.pass_obj
def train(obj: CliContext, dataset: Path | None, feature_set: str) -> None:
    """Train on a dataset, register the challenger, promote it if it beats the champion.

    An imported dataset trains its own model (`fraud-detector-NAME`) on its own columns; --feature-set
    applies to simulated datasets."""
    from fraudguard.data.schema import DatasetError
    from fraudguard.spark import spark_session
    from fraudguard.train.job import run_training

    data = _dataset(obj, dataset)
    settings = obj.settings
    with console.status("starting Spark ...") as status:
        spark = spark_session(settings, "fraudguard-train")

        def step(text: str) -> None:
            status.update(text + " ...")

        try:
            settings = data.model_settings(settings)
            outcome = run_training(spark, obj.settings, data, feature_set, on_step=step)
        except DatasetError as error:
            raise CliError(str(error)) from None
    metrics = outcome.result.test_metrics
    table = Table("test metric", "value", title=f"{settings.model.registered_name} v{outcome.version}")
    for name in HEADLINE:
        if name in metrics:
            table.add_row(name, f"{metrics[name]:.4f}")
    for name, value in sorted(metrics.items()):
        if name.startswith("recall_") and name != "recall_at_threshold":
            table.add_row(name, f"{value:.4f}")
    console.print(table)
    verdict = "promoted" if outcome.decision.promoted else "not promoted"
    console.print(f"promotion gate: {verdict} ({outcome.decision.reason})")


@click.command()
@click.option(
    "--dataset", type=click.Path(file_okay=False, path_type=Path), help="Default: var/datasets/faker."
)
@click.option("--version", help="Registry version (default: the champion).")
@click.pass_obj
def evaluate(obj: CliContext, dataset: Path | None, version: str | None) -> None:
    """Score a registered model on a dataset's test days and print its metrics as JSON."""
    from fraudguard.spark import spark_session
    from fraudguard.train import registry
    from fraudguard.train.metrics import evaluate as metrics_of
    from fraudguard.train.trainer import score

    data = _dataset(obj, dataset)
    settings = data.model_settings(obj.settings)
    client = registry.connect(settings)
    chosen = version or str(
        client.get_model_version_by_alias(settings.model.registered_name, registry.CHAMPION).version
    )
    name = settings.model.registered_name
    threshold = registry.threshold_of(client.get_model_version(name, chosen).tags, f"{name} v{chosen}")
    with console.status("scoring ..."):
        spark = spark_session(settings, "fraudguard-evaluate")
        prepared = data.prepare(spark, settings)
        scored = score(
            registry.load_version(settings, chosen), prepared.split.rows(prepared.features, "test")
        )
    click.echo(json.dumps({"version": chosen, "test": prepared.split.describe()["test"],
                           **metrics_of(scored, threshold)}, indent=2))  # fmt: skip


@click.group()
def model() -> None:
    """The registered fraud model: versions, aliases, promotion and rollback."""


@model.command()
@click.pass_obj
def show(obj: CliContext) -> None:
    """Every version with its aliases, test AUC-PR, threshold and gate decision."""
    from fraudguard.train import registry

    client = registry.connect(obj.settings)
    name = obj.settings.model.registered_name
    table = Table("version", "aliases", "test AUC-PR", "threshold", "gate", title=name)
    for found in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version)):
        version = client.get_model_version(name, str(found.version))  # search results carry no aliases
        run = registry.run_of(client, version)
        table.add_row(
            str(version.version),
            ", ".join(version.aliases),
            f"{run.data.metrics.get('test_auc_pr', float('nan')):.4f}",
            version.tags.get("threshold", "")[:6],
            version.tags.get("promotion_reason", ""),
        )
    console.print(table)


@model.command()
@click.option("--version", required=True, help="The version to serve (rollback or roll forward).")
@click.pass_obj
def promote(obj: CliContext, version: str) -> None:
    """Make a version the champion and export it to models/."""
    from fraudguard.train import registry

    path = registry.promote(obj.settings, version)
    console.print(f"version {version} is now the champion; exported to {path}")


@model.command()
@click.pass_obj
def bootstrap(obj: CliContext) -> None:
    """Train the bootstrap model that a fresh installation serves until its first model is promoted, and
    write it with its provenance to models/bootstrap (commit the result)."""
    from fraudguard.train.bootstrap import build

    with console.status("training the bootstrap model ...") as status:
        provenance = build(obj.settings, on_step=lambda text: status.update(text + " ..."))
    metrics = provenance["test_metrics"]
    console.print(
        f"bootstrap model written: test AUC-PR {metrics['auc_pr']:.3f}, trained on {provenance['world']}"
    )
