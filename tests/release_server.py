"""A file server on 127.0.0.1 standing in for the hosts of the authors' releases (Google Drive's ``/uc?id=ID``
downloads and GitHub's ``/OWNER/REPO/raw/BRANCH/PATH``), for the pretrained-weights tests. It answers GET and HEAD,
with ``Range`` requests (206) for resumed downloads, logs every request, and never imports robench."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


class _Handler(BaseHTTPRequestHandler):
    server: ReleaseServer

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        parts = urlsplit(self.path)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        self.server.log.append((self.command, key, self.headers.get("Range")))
        data = self.server.files.get(key)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            if body:
                self.wfile.write(b"not found")
            return
        start = 0
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        if body:
            self.wfile.write(data[start:])


class ReleaseServer(ThreadingHTTPServer):
    """``ReleaseServer().start()``; put bytes at ``files["/uc?id=ID"]`` or ``files["/o/r/raw/main/p"]``."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, bytes] = {}
        self.log: list[tuple[str, str, str | None]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="release-server", daemon=True)

    def start(self) -> ReleaseServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (a test may stop the server early to cut the network; stopping again does nothing)."""
        if self._thread.is_alive():
            self.shutdown()
            self.server_close()
            self._thread.join(timeout=10)
