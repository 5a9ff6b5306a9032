"""The pinned JVM artifact sets: exact versions, and Spark's connector at exactly pyspark's version."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pyspark
import pytest

from fraudguard import jvm

NS = {"m": "http://maven.apache.org/POM/4.0.0"}


def properties(name: str) -> dict[str, str]:
    root = ET.parse(jvm.pom(name)).getroot()
    return {child.tag.split("}")[1]: child.text for child in root.find("m:properties", NS)}


@pytest.mark.parametrize("name", jvm.ARTIFACT_SETS)
def test_every_dependency_and_plugin_is_pinned_to_an_exact_version(name):
    root = ET.parse(jvm.pom(name)).getroot()
    values = properties(name)
    for element in [*root.iterfind(".//m:dependency", NS), *root.iterfind(".//m:plugin", NS)]:
        version = element.findtext("m:version", namespaces=NS)
        assert version, f"{name}: {element.findtext('m:artifactId', namespaces=NS)} has no version"
        resolved = values.get(version[2:-1], "") if version.startswith("${") else version
        assert resolved and resolved[0].isdigit() and not set("[](),") & set(resolved), (name, resolved)


def test_sparks_kafka_connector_is_at_exactly_pysparks_version():
    assert properties(jvm.SPARK_KAFKA)["spark.version"] == pyspark.__version__


def test_an_unknown_artifact_set_names_the_known_ones():
    with pytest.raises(jvm.JvmError, match="expected one of kafka-broker, spark-kafka"):
        jvm.pom("kafka-connect")
