"""An isolation forest as an MLlib pipeline stage: scikit-learn's `IsolationForest`, fitted on a sample
on the driver and scoring on the executors.

LinkedIn's Spark isolation forest has no build for the pinned Spark here (Maven Central serves no
`isolation-forest_<spark>_2.13` artifact to these machines), so the stage wraps the maintained
scikit-learn implementation instead. Fitting on a sample is the algorithm's own design: each tree is
grown on `max_samples` (256) rows drawn at random, so the forest never needs the whole data set; the
driver collects at most `sampleRows` rows. Scoring runs as an Arrow UDF, on every executor.

The model reads a vector column (e.g. the VectorAssembler's) and writes `probability` as a
two-element vector like MLlib's classifiers, `[1 - s, s]` with `s` the anomaly score in (0, 1]
(scikit-learn's `-score_samples`, the paper's `2^(-E[h(x)]/c(n))`): the registry, gate and stream use
it as they use any classifier. With `scoreCol` (and an empty `probabilityCol`) it writes `s` alone, an
input for a supervised model after it. Missing inputs (NaN) take the training median. The model keeps
each input's quantiles over the training sample (`quantiles`), so an alert can say which of its inputs
are rare in that population. The fitted forest is saved with the PipelineModel, in skops' format (no
pickle), under the stage's folder.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.ml import Estimator, Model
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasProbabilityCol, HasSeed
from pyspark.ml.util import (
    DefaultParamsReadable,
    DefaultParamsReader,
    DefaultParamsWritable,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.functions import pandas_udf

if TYPE_CHECKING:
    from sklearn.ensemble import IsolationForest as SklearnForest

FOREST_FOLDER = "forest"
SCORES = "_isolation_forest_scores"
QUANTILES = np.linspace(0.0, 1.0, 1001)  # each input's population, to a tenth of a percent


class _ForestParams(HasFeaturesCol, HasProbabilityCol, HasSeed):
    numTrees: Param[int] = Param(Params._dummy(), "numTrees", "trees in the forest", TypeConverters.toInt)
    maxSamples: Param[int] = Param(
        Params._dummy(), "maxSamples", "rows each tree is grown on", TypeConverters.toInt
    )
    sampleRows: Param[int] = Param(
        Params._dummy(), "sampleRows", "rows collected to the driver to fit on, at most", TypeConverters.toInt
    )
    scoreCol: Param[str] = Param(
        Params._dummy(), "scoreCol", "the anomaly score as a number ('' = none)", TypeConverters.toString
    )

    def __init__(self) -> None:
        super().__init__()
        self._setDefault(numTrees=100, maxSamples=256, sampleRows=100_000, seed=42, scoreCol="")


class IsolationForest(Estimator, _ForestParams, DefaultParamsReadable, DefaultParamsWritable):
    """Trained without labels: a `label` column, if any, is ignored."""

    def __init__(self, **params: Any) -> None:
        super().__init__()
        self._set(**params)

    def _fit(self, dataset: DataFrame) -> IsolationForestModel:
        rows = dataset.select(vector_to_array(F.col(self.getFeaturesCol())).alias("x"))
        total = rows.count()
        share = min(1.0, self.getOrDefault(self.sampleRows) / max(total, 1))
        sample = np.array(
            [row.x for row in rows.sample(fraction=share, seed=self.getSeed()).collect()], dtype=np.float64
        )
        if len(sample) == 0:
            raise ValueError("isolation forest: no rows to fit on")
        quantiles = np.full((sample.shape[1], len(QUANTILES)), np.nan)
        seen = ~np.isnan(sample).all(axis=0)  # an input missing from every row has no population
        quantiles[seen] = np.nanquantile(sample[:, seen], QUANTILES, axis=0).T
        medians = np.nan_to_num(quantiles[:, len(QUANTILES) // 2])
        from sklearn.ensemble import IsolationForest as SklearnForest  # only where a forest is fitted

        forest = SklearnForest(
            n_estimators=self.getOrDefault(self.numTrees),
            max_samples=min(self.getOrDefault(self.maxSamples), len(sample)),
            random_state=self.getSeed(),
        ).fit(np.where(np.isnan(sample), medians, sample))
        return self._copyValues(IsolationForestModel(forest, medians, quantiles))


class IsolationForestModel(Model, _ForestParams, MLReadable, MLWritable):
    def __init__(
        self,
        forest: SklearnForest | None = None,
        medians: np.ndarray | None = None,
        quantiles: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.forest, self.medians, self.quantiles = forest, medians, quantiles

    def scores(self, features: np.ndarray) -> np.ndarray:
        """The anomaly score of each row, in (0, 1]: higher is more unusual."""
        if self.forest is None or self.medians is None:
            raise ValueError("isolation forest: the model was not fitted")
        filled = np.where(np.isnan(features), self.medians, features)
        return -self.forest.score_samples(filled)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        score_rows = self.scores

        @pandas_udf("array<double>")  # type: ignore[call-overload]  # pandas ships no types
        def probability(features: pd.Series) -> pd.Series:
            scores = score_rows(np.array(features.tolist(), dtype=float))
            return pd.Series(list(np.column_stack([1.0 - scores, scores])))

        scored = dataset.withColumn(SCORES, probability(vector_to_array(F.col(self.getFeaturesCol()))))
        outputs = {
            self.getProbabilityCol(): array_to_vector(F.col(SCORES)),
            self.getOrDefault(self.scoreCol): F.col(SCORES)[1],
        }
        return scored.withColumns({name: value for name, value in outputs.items() if name}).drop(SCORES)

    def write(self) -> MLWriter:
        return _ModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _ModelReader(cls)


def _skops() -> ModuleType:
    """skops.io, imported only where a forest is saved or loaded. Its import finds each scipy ufunc's
    module by reading the ufunc's name from every loaded module; in an Airflow task, each of Airflow's
    moved modules answers with a deprecation warning, a thousand lines that say nothing about ours."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"skops\.io\._utils")
        import skops.io

    return skops.io


class _ModelWriter(MLWriter):
    """The stage's params (as for any Python stage) and its forest, through Spark, so any
    filesystem Spark writes to (file:, hdfs:, s3a:) holds it."""

    def __init__(self, instance: IsolationForestModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession)
        instance = self.instance
        document = _skops().dumps(
            {"forest": instance.forest, "medians": instance.medians, "quantiles": instance.quantiles}
        )
        self.sparkSession.createDataFrame([(document,)], "forest binary").coalesce(1).write.parquet(
            f"{path}/{FOREST_FOLDER}"
        )


class _ModelReader(MLReader):
    def __init__(self, cls: type[IsolationForestModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> IsolationForestModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        spark: SparkSession = self.sparkSession
        document = bytes(spark.read.parquet(f"{path}/{FOREST_FOLDER}").collect()[0]["forest"])
        skio = _skops()
        trusted = skio.get_untrusted_types(data=document)
        if any(not name.startswith(("sklearn.", "numpy.")) for name in trusted):
            raise ValueError(f"{path}: the saved forest holds unexpected types: {trusted}")
        saved = skio.loads(document, trusted=trusted)
        model = self.cls(saved["forest"], saved["medians"], saved.get("quantiles"))
        model._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(model, metadata)
        return model
