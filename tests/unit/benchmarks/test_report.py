"""`make bench` writes its report into docs/benchmarks.md's last section and nothing else of the page."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("report", PROJECT_ROOT / "benchmarks" / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def test_the_report_replaces_only_the_marked_section_of_the_page():
    page = report.DOCS.read_text()
    first = report.with_report(page, "Written today.\n\n| a | b |\n")
    again = report.with_report(first, "Written tomorrow.\n")
    start, end = report.SECTION
    assert first.split(start)[0] == page.split(start)[0] and first.split(end)[1] == page.split(end)[1]
    assert f"{start}\nWritten today.\n\n| a | b |\n{end}" in first
    assert f"{start}\nWritten tomorrow.\n{end}" in again and "Written today." not in again


def test_a_page_without_the_markers_is_refused_by_name():
    with pytest.raises(ValueError, match="expected the markers '<!-- make bench: start -->'"):
        report.with_report("# a page\n", "x")
