"""`python -m fraudguard.kafka.devbroker --config PATH`: the detached broker process."""

import argparse
from pathlib import Path

from fraudguard.config import load_settings
from fraudguard.kafka.devbroker.server import DevBroker
from fraudguard.logs import configure_logging

parser = argparse.ArgumentParser(prog="fraudguard-devbroker")
parser.add_argument("--config", type=Path, required=True)
arguments = parser.parse_args()
configure_logging()
DevBroker(load_settings(arguments.config)).run()
