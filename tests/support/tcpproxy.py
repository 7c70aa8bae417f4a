"""A TCP forwarder on the loopback, to take a server away from its clients and bring it
back without touching the server itself (the PostgreSQL server is shared).

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = proxy.route("postgresql://postgres@127.0.0.1:5432/db")
        proxy.down()   # as the server going away: open connections cut, new ones closed
        wait_until(lambda: proxy.refused >= 2)   # the client tried again, and again
        proxy.up()     # back, on the same port

While down it still accepts, and closes each connection at once (counting them in
`refused`), so a test can see a client retry instead of sleeping and hoping.
`cut_after(marker)` loses the server's answer to a request: the first client message
holding `marker` is delivered, then that connection is cut before anything comes back.
Each forwarded connection is pumped by two daemon threads, one per direction.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.refused = 0
        self.cut = 0
        self._cut_marker: bytes | None = None
        self._up = True
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._listener is not None, "the proxy was never started"
        port: int = self._listener.getsockname()[1]
        return port

    def route(self, url: str) -> str:
        """`url` (user@host:port/…) with its host and port replaced by the proxy's."""
        parts = urlsplit(url)
        user, _, _ = parts.netloc.rpartition("@")
        netloc = f"{user}@" if user else ""
        return urlunsplit(parts._replace(netloc=f"{netloc}127.0.0.1:{self.port}"))

    def start(self) -> TcpProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()
        return self

    def close(self) -> None:
        self.down()
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)

    def down(self) -> None:
        """Cut every open connection; from now on each new one is closed at once."""
        with self._lock:
            self._up = False
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def up(self) -> None:
        with self._lock:
            self._up = True

    def cut_after(self, marker: bytes) -> None:
        """Once: deliver the next client data holding `marker` to the server, then cut
        that connection before the server's answer gets back."""
        with self._lock:
            self._cut_marker = marker

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                up = self._up
                if not up:
                    self.refused += 1
            if not up:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                up = self._up
                if up:
                    self._sockets.update((client, upstream))
            if not up:  # it went down meanwhile
                _close(client)
                _close(upstream)
                continue
            for source, sink, upward in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(
                    target=self._pump, args=(source, sink, upward), daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upward: bool) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if upward and self._cut_marker is not None and self._cut_marker in data:
                    with self._lock:
                        self._cut_marker = None
                        self.cut += 1
                    # Only this side is shut at once: the server reads what it was sent
                    # and carries it out; its answer finds nobody.
                    _close(source)
                    break
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
