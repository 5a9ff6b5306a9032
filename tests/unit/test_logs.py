from __future__ import annotations

import logging

from fraudguard.logs import LogfmtFormatter


def test_log_lines_are_logfmt_with_extra_fields_quoted_when_needed():
    record = logging.makeLogRecord(
        {"name": "fraudguard.test", "levelname": "INFO", "msg": "topic created", "created": 0.0}
    )
    record.topic = "fraud-alerts"
    record.note = 'has "quotes" and spaces'
    assert LogfmtFormatter().format(record) == (
        'ts=1970-01-01T00:00:00.000+00:00 level=info logger=fraudguard.test event="topic created" '
        'topic=fraud-alerts note="has \\"quotes\\" and spaces"'
    )
