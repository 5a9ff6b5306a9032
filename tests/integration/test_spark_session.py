"""The platform's SparkSession as `spark_session` builds it from the one config."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_the_driver_jvm_runs_with_the_configured_java_options(spark):
    """`spark.java_options` (the throughput collector by default) reach the JVM itself."""
    management = spark.sparkContext._jvm.java.lang.management.ManagementFactory
    arguments = list(management.getRuntimeMXBean().getInputArguments())
    collectors = {bean.getName() for bean in management.getGarbageCollectorMXBeans()}
    assert "-XX:+UseParallelGC" in arguments
    assert collectors == {"PS Scavenge", "PS MarkSweep"}
