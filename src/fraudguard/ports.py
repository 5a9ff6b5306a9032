"""Free loopback ports for services that bind later and keep them (across restarts, for the local Kafka).

They are drawn outside the kernel's ephemeral range: a port the kernel hands to `bind(0)` or to an
outgoing connection is one it may hand to someone else a moment later, before the service binds it.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
LOWEST = 10_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def in_use(port: int, host: str = HOST) -> bool:
    """Whether `port` cannot be bound now (as a server binds it: with SO_REUSEADDR)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
        return False


def free_ports(count: int, host: str = HOST) -> list[int]:
    """`count` distinct ports nothing is bound to, below the ephemeral range."""
    highest = _ephemeral_low() - 1
    chosen: list[int] = []
    draw = random.SystemRandom()
    while len(chosen) < count:
        port = draw.randint(LOWEST, highest)
        if port not in chosen and not in_use(port, host):
            chosen.append(port)
    return chosen


def _ephemeral_low() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default; macOS starts at 49152
