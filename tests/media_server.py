"""A local HTTP server with media files, for tests of the gateway's guarded fetcher.

Runs in a thread of the test process (it stands in for some web site, not for anything under test):
`/cat.png` a small PNG, `/doc.pdf` a small PDF, `/big.png` a PNG whose Content-Length says 25 MB,
`/chunked-big.png` 25 MB without a Content-Length, `/redirect?to=URL` a 302 to URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n2 0 obj << /Type /Page >> endobj\n%%EOF\n"
BIG = 25 * 1024 * 1024
FILES = {"/cat.png": ("image/png", PNG), "/doc.pdf": ("application/pdf", PDF)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.server.hits.append(url.path)  # type: ignore[attr-defined]
        if url.path in FILES:
            media_type, body = FILES[url.path]
            self._send(200, media_type, body)
        elif url.path == "/redirect":
            self.send_response(302)
            self.send_header("location", parse_qs(url.query)["to"][0])
            self.send_header("content-length", "0")
            self.end_headers()
        elif url.path in ("/big.png", "/chunked-big.png"):
            self._big(chunked=url.path.startswith("/chunked"))
        else:
            self._send(404, "text/plain", b"not here")

    def _send(self, status: int, media_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", media_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _big(self, chunked: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "image/png")
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        else:
            self.send_header("content-length", str(BIG))
        self.end_headers()
        block = PNG[:8] + b"\x00" * (1024 * 1024 - 8)
        try:
            for _ in range(BIG // len(block)):
                if chunked:
                    self.wfile.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                else:
                    self.wfile.write(block)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return  # the fetcher stopped reading at its cap, as it should


@contextmanager
def media_server() -> Iterator[tuple[str, list[str]]]:
    """(base URL on 127.0.0.1, the paths requested so far)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.hits  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
