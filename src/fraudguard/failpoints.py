"""Named crash points for recovery tests: `FRAUDGUARD_FAILPOINTS=alerts.after_store` makes the process
kill itself (SIGKILL, as a power cut would) the first time it reaches that point. Unset in production."""

from __future__ import annotations

import os
import signal

FAILPOINTS_VAR = "FRAUDGUARD_FAILPOINTS"


def reached(name: str) -> None:
    if name in os.environ.get(FAILPOINTS_VAR, "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)
