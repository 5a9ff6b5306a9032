"""The champion PipelineModel evaluated with numpy on the driver, for the micro-batches of the stream.

Spark's `PipelineModel.transform` costs ~0.3 s for 1,000 rows and ~0.75 s for 10,000 on local[2] (a job
to plan and run for every micro-batch), more than all the stream's features together; these arrays
take milliseconds. The stages `train.pipeline.build_pipeline` makes are read from the fitted model
(labels, tree nodes, coefficients) and applied with Spark's own rules:

- StringIndexer (handleInvalid "keep"): an unseen or missing value gets the index after the labels;
- OneHotEncoder, StandardScaler, VectorAssembler (missing numbers stay NaN, "keep");
- GBT (sum of weighted trees, probability 1 / (1 + exp(-2 margin))), random forest (mean of the
  leaves' class frequencies), logistic regression (sigmoid of the margin).

A tree split sends a value left when it is `<= threshold` (continuous) or one of the left categories
(categorical), so NaN goes right, as in Spark. `LocalPipeline.of` returns None for any other stage: the
stream then scores with Spark. The equality with Spark's scores is tested for every classifier.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyspark.ml import PipelineModel


@dataclass(frozen=True)
class _Indexer:
    column: str
    output: str
    labels: dict[str, int]


@dataclass(frozen=True)
class _OneHot:
    inputs: list[str]
    outputs: list[str]
    widths: list[int]


@dataclass(frozen=True)
class _Trees:
    """Every tree's nodes as flat arrays indexed by node id; a leaf has left == -1."""

    feature: list[np.ndarray]
    threshold: list[np.ndarray]
    categories: list[list[frozenset[float] | None]]
    left: list[np.ndarray]
    right: list[np.ndarray]
    value: list[np.ndarray]  # regression: the prediction; classification: the class-1 frequency
    weights: np.ndarray

    def leaves(self, x: np.ndarray) -> np.ndarray:
        """Each tree's leaf value for each row: (trees, rows)."""
        out = np.empty((len(self.left), len(x)))
        for t in range(len(self.left)):
            node = np.zeros(len(x), dtype=np.int64)
            while True:
                inner = self.left[t][node] >= 0
                if not inner.any():
                    break
                rows, at = np.flatnonzero(inner), node[inner]
                values = x[rows, self.feature[t][at]]
                go_left = values <= self.threshold[t][at]
                for i in np.flatnonzero(np.isnan(self.threshold[t][at])):
                    go_left[i] = values[i] in self.categories[t][at[i]]
                node[rows] = np.where(go_left, self.left[t][at], self.right[t][at])
            out[t] = self.value[t][node]
        return out


class LocalPipeline:
    """`score(frame)`: the class-1 probability `transform` would give, from a pandas frame."""

    def __init__(self, indexers, one_hot, assembled, scale, classifier, kind) -> None:
        self.indexers: list[_Indexer] = indexers
        self.one_hot: _OneHot | None = one_hot
        self.assembled: list[str] = assembled
        self.scale: np.ndarray | None = scale
        self.classifier = classifier
        self.kind: str = kind

    @classmethod
    def of(cls, model: PipelineModel) -> LocalPipeline | None:
        indexers, one_hot, assembled, scale, classifier, kind = [], None, None, None, None, None
        for stage in model.stages:
            name = stage.__class__.__name__
            if name == "StringIndexerModel" and stage.getHandleInvalid() == "keep":
                labels = {label: i for i, label in enumerate(stage.labels)}
                indexers.append(_Indexer(stage.getInputCol(), stage.getOutputCol(), labels))
            elif name == "OneHotEncoderModel" and stage.getHandleInvalid() == "keep":
                drop = 1 if stage.getDropLast() else 0
                widths = [size + 1 - drop for size in stage.categorySizes]
                one_hot = _OneHot(stage.getInputCols(), stage.getOutputCols(), widths)
            elif name == "VectorAssembler" and stage.getHandleInvalid() == "keep":
                assembled = stage.getInputCols()
            elif name == "StandardScalerModel" and not stage.getWithMean() and stage.getWithStd():
                std = stage.std.toArray()
                scale = np.divide(1.0, std, out=np.zeros_like(std), where=std != 0)
            elif name in ("GBTClassificationModel", "RandomForestClassificationModel"):
                kind, classifier = name, _read_trees(stage, regression=name == "GBTClassificationModel")
            elif name == "LogisticRegressionModel" and stage.numClasses == 2:
                kind, classifier = name, (stage.coefficients.toArray(), float(stage.intercept))
            else:
                return None
        if assembled is None or classifier is None:
            return None
        return cls(indexers, one_hot, assembled, scale, classifier, kind)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        columns: dict[str, np.ndarray] = {}
        for indexer in self.indexers:
            values = frame[indexer.column].to_numpy(dtype=object)
            unseen = len(indexer.labels)
            columns[indexer.output] = np.array([indexer.labels.get(v, unseen) for v in values], dtype=float)
        if self.one_hot is not None:
            for source, output, width in zip(
                self.one_hot.inputs, self.one_hot.outputs, self.one_hot.widths, strict=True
            ):
                index = columns[source].astype(np.int64)
                encoded = np.zeros((len(index), width))
                hit = index < width
                encoded[np.flatnonzero(hit), index[hit]] = 1.0
                columns[output] = encoded
        parts = []
        for name in self.assembled:
            values = columns[name] if name in columns else frame[name].to_numpy(dtype=float, na_value=np.nan)
            parts.append(values.reshape(len(frame), -1))
        x = np.hstack(parts) if parts else np.empty((len(frame), 0))
        if self.scale is not None:
            x = x * self.scale
        if self.kind == "LogisticRegressionModel":
            coefficients, intercept = self.classifier
            return 1.0 / (1.0 + np.exp(-(x @ coefficients + intercept)))
        trees: _Trees = self.classifier
        leaves = trees.leaves(x)
        if self.kind == "GBTClassificationModel":
            margin = trees.weights @ leaves
            return 1.0 / (1.0 + np.exp(-2.0 * margin))
        return leaves.mean(axis=0)


def _read_trees(stage, regression: bool) -> _Trees:
    """The fitted trees from the stage's saved form (Parquet rows of node data)."""
    with tempfile.TemporaryDirectory(prefix="fraudguard-trees-") as folder:
        saved = Path(folder) / "model"
        stage.write().save(str(saved))
        nodes = pq.read_table(saved / "data").to_pylist()
    by_tree: dict[int, list[dict]] = {}
    for row in nodes:
        by_tree.setdefault(row["treeID"], []).append(row["nodeData"])
    trees = _Trees([], [], [], [], [], [], np.array(stage.treeWeights, dtype=float))
    for tree in sorted(by_tree):
        data = sorted(by_tree[tree], key=lambda node: node["id"])
        if [node["id"] for node in data] != list(range(len(data))):
            raise ValueError(f"tree {tree}: node ids are not 0..{len(data) - 1}")
        split = [node["split"] for node in data]
        continuous = [s["numCategories"] == -1 for s in split]
        trees.feature.append(np.array([s["featureIndex"] for s in split], dtype=np.int64))
        trees.threshold.append(np.array([
            s["leftCategoriesOrThreshold"][0] if c and s["leftCategoriesOrThreshold"] else np.nan
            for s, c in zip(split, continuous, strict=True)
        ]))  # fmt: skip
        left_categories = [frozenset(s["leftCategoriesOrThreshold"]) for s in split]
        trees.categories.append(
            [None if c else left for c, left in zip(continuous, left_categories, strict=True)]
        )
        trees.left.append(np.array([node["leftChild"] for node in data], dtype=np.int64))
        trees.right.append(np.array([node["rightChild"] for node in data], dtype=np.int64))
        trees.value.append(np.array([_leaf_value(node, regression) for node in data]))
    return trees


def _leaf_value(node: dict, regression: bool) -> float:
    if regression:
        return float(node["prediction"])
    stats = node["impurityStats"]
    total = float(sum(stats))
    return float(stats[1]) / total if total and len(stats) > 1 else 0.0
