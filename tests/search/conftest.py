"""Shared fixtures of the search tests."""

import functools
import http.server
import threading

import pytest


@pytest.fixture
def http_folder(tmp_path):
    """A static HTTP server on loopback, serving tmp_path/'served'."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=served)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
