"""A TCP proxy on loopback (threads in the test process) that can play a network outage: put it
between the service and its database to make the database unreachable for a while."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class TcpProxy:
    """Forwards each connection to its own ``port`` on to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()  # both ends of each forwarded connection
        self._held: list[socket.socket] = []  # accepted during an outage, never answered
        self._reachable = True
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if not self._reachable:
                    self._held.append(client)
                    continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open |= {client, server}
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._close(source, sink)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with self._lock:
                self._open.discard(sock)
            with suppress(OSError):  # not connected (any more)
                sock.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked on it
            sock.close()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Unreachable while inside: open connections are cut, and new ones are accepted but
        never answered (a client waits for its connect timeout), as across a network partition."""
        with self._lock:
            self._reachable = False
            cut = list(self._open)
        self._close(*cut)
        try:
            yield
        finally:
            with self._lock:
                self._reachable = True
                held, self._held = self._held, []
            self._close(*held)

    def close(self) -> None:
        with self._lock:
            everything = [self._listener, *self._open, *self._held]
        self._close(*everything)  # the listener's shutdown ends the accepting thread
