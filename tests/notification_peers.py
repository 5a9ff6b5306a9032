"""Real local endpoints that notifications are delivered to: an HTTP webhook and an SMTP server."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class Webhook(ThreadingHTTPServer):
    """Answers 503 to the first `failures` POSTs, then 204; keeps the bodies it accepted."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _WebhookHandler)
        self.failures = 0
        self.failed = 0
        self.received: list[bytes] = []
        self.authorizations: set[str | None] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"


class _WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.authorizations.add(self.headers.get("Authorization"))
        if self.server.failures > 0:
            self.server.failures -= 1
            self.server.failed += 1
            self.send_response(503)
        else:
            self.server.received.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def webhook_server() -> Iterator[Webhook]:
    server = Webhook()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@contextmanager
def smtp_server(port: int, tls_context: ssl.SSLContext | None = None) -> Iterator[list[Message]]:
    """An SMTP server on 127.0.0.1:`port` (with STARTTLS, required, given a `tls_context`); yields the
    list of messages it receives."""
    mailbox = _Mailbox()
    tls = {"tls_context": tls_context, "require_starttls": True} if tls_context else {}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **tls)
    controller.start()
    try:
        yield mailbox.messages
    finally:
        controller.stop()
