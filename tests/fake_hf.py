"""A local Hugging Face Hub for the real huggingface_hub client: HEAD and GET ``/{org}/{name}/resolve/{rev}/{file}``.

It answers as huggingface.co does for a plain (non-Xet) file: ``X-Repo-Commit`` (40 hex), ``ETag`` (the blob's
name in the client's cache) and ``Content-Length`` (the size the client checks), and a 404 with
``X-Error-Code: EntryNotFound`` or ``RepoNotFound``. It serves ``root/<org>/<name>/<files>``. Faults, per file
name: ``truncate`` sends the first half of the body that many times (-1: always) after announcing the whole
length, ``corrupt`` sends as many bytes of garbage. The client is pointed at it with ``HF_ENDPOINT`` (read when
huggingface_hub is imported, so in a fresh process).
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, truncate: dict[str, int] | None = None, corrupt: Iterable[str] = ()):
        self.root, self.truncate, self.corrupt = Path(root), dict(truncate or {}), set(corrupt)
        self.log: list[tuple[str, str]] = []
        self.connections: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        self.connections.add(request)
        super().process_request(request, client_address)

    def stop(self) -> None:
        """Stop listening and drop every open connection: a hub that is gone must not keep answering a client's
        pooled keep-alive connection from a lingering handler thread."""
        self.shutdown()
        self.server_close()
        for connection in self.connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeHub

    def log_message(self, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        self.server.log.append((self.command, urlsplit(self.path).path))
        parts = unquote(urlsplit(self.path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve" or not (self.server.root / parts[0] / parts[1]).is_dir():
            return self._empty(404, {"X-Error-Code": "RepoNotFound"})
        name = "/".join(parts[4:])
        file = self.server.root / parts[0] / parts[1] / name
        if not file.is_file():
            return self._empty(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
        data = file.read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        if not body:
            return
        if name in self.server.corrupt:
            data = bytes(len(data))
        elif self.server.truncate.get(name, 0):
            self.server.truncate[name] -= 1 if self.server.truncate[name] > 0 else 0
            data = data[: len(data) // 2]
            self.wfile.write(data)
            self.close_connection = True  # a short body, then the connection drops, as a broken download does
            return
        self.wfile.write(data)

    def _empty(self, code: int, headers: dict[str, str]) -> None:
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


def serve(root: Path, **faults: object) -> FakeHub:
    """The fake hub on a free port of 127.0.0.1, serving in a daemon thread."""
    hub = FakeHub(root, **faults)  # type: ignore[arg-type]
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    return hub


def silent_port() -> tuple[object, int]:
    """A listening socket that accepts connections and never answers (a firewall that swallows packets)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]
