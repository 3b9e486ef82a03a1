"""HTTP plumbing: the keep-alive request handler, body encoding, ETags, Link headers."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.github.emulator.model import _Answer

if TYPE_CHECKING:
    from tests.github.emulator.server import GitHubEmulator


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _encode(answer: _Answer) -> bytes:
    if answer.raw is not None:
        return answer.raw
    if answer.body is None:
        return b""
    return json.dumps(answer.body, separators=(",", ":")).encode()


def _etag_matches(header: str, etag: str) -> bool:
    if not header:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in wanted or etag.removeprefix("W/") in wanted


def _redacted(headers: dict[str, str]) -> dict[str, str]:
    out = dict(headers)
    if "authorization" in out:
        scheme = out["authorization"].partition(" ")[0]
        out["authorization"] = f"{scheme} <redacted>"
    return out


class _EmulatorHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that defers every request to the emulator."""

    owner: GitHubEmulator
    protocol_version = "HTTP/1.1"
    _reset = False

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in separate writes; without this, Nagle's
        # algorithm and delayed ACKs add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._connections.add(self.connection)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        answer = self.owner.handle(self.command, self.path, dict(self.headers.items()), body)
        if answer is None:
            self._reset = True
            self.close_connection = True
            return
        payload = _encode(answer)
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def finish(self) -> None:
        with self.owner._lock:
            self.owner._connections.discard(self.connection)
        if self._reset:
            # SO_LINGER 0 makes close() send RST: the client sees a reset
            # connection, not a clean end of stream.
            self.rfile.close()
            self.wfile.close()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log is `GitHubEmulator.requests`

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The `Date` header tells GitHub's time: the emulator's clock, not the machine's.
        return super().date_time_string(self.owner.clock.time() if timestamp is None else timestamp)


def parse_link_header(value: str) -> dict[str, str]:
    """{rel: url} of a Link header."""
    links = {}
    for part in value.split(","):
        match = re.match(r'\s*<([^>]+)>;\s*rel="([^"]+)"', part)
        if match:
            links[match.group(2)] = match.group(1)
    return links
