"""Secrets out of what people see: `config show`, logs, stored delivery errors."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "**********"
SECRET_WORDS = ("password", "secret", "token", "jaas", "credential")
"""A property whose name holds one of these holds a secret."""

_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")


def without_credentials(text: str) -> str:
    """`text` with the password of every URL in it masked (`postgresql://fraud:**********@db/alerts`)."""
    return _PASSWORD_IN_URL.sub(lambda match: f"{match['head']}:{MASK}@", text)


def url_origin(url: str) -> str:
    """What may be shown of a URL that is itself a credential (a chat webhook's path is its key)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/{MASK}"


def is_secret_name(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)
