"""A standalone master counts as started only once its status page answers with JSON: while its web UI
starts, the page can answer with an empty body."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fraudguard.ports import HOST
from fraudguard.spark_standalone import StandaloneCluster


def serving(body: bytes):
    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer((HOST, 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize(
    ("body", "alive"),
    [(b"", None), (b"<html>starting</html>", None), (b'{"workers": [{"state": "ALIVE"}]}', 1)],
)
def test_the_master_is_up_only_when_its_status_page_is_json(tmp_path, body, alive):
    server = serving(body)
    try:
        cluster = StandaloneCluster(tmp_path, master_port=0, ui_port=server.server_address[1])
        assert (cluster._status() is not None) == (alive is not None)
        assert cluster.alive_workers() == (alive or 0)
    finally:
        server.shutdown()
