from __future__ import annotations

import logging

from fraudguard.logs import LogfmtFormatter, configure_logging


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


def test_py4j_info_lines_stay_out_of_service_logs_and_its_warnings_stay_in(tmp_path):
    root, py4j = logging.getLogger(), logging.getLogger("py4j")
    handlers, root_level, py4j_level = root.handlers[:], root.level, py4j.level
    log_file = tmp_path / "service.log"
    try:
        configure_logging("INFO", log_file)
        logging.getLogger("py4j.clientserver").info("Received command c on object id p0")
        logging.getLogger("py4j.clientserver").warning("connection lost")
        logging.getLogger("fraudguard.test").info("micro-batch scored")
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(root_level)
        py4j.setLevel(py4j_level)
    events = [line.split("event=", 1)[1] for line in log_file.read_text().splitlines()]
    assert events == ['"connection lost"', '"micro-batch scored"']
