"""`python -m fraudguard.kafka.devbroker < SETTINGS_JSON`: the detached broker process.

It reads the caller's effective settings (secrets masked: it needs none) from standard input, so
the caller and the broker never disagree about the runtime folder or the topics.
"""

import sys

from fraudguard.config import Settings
from fraudguard.kafka.devbroker.server import DevBroker
from fraudguard.logs import configure_logging

configure_logging()
DevBroker(Settings.model_validate_json(sys.stdin.read())).run()
