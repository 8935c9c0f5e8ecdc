"""A webhook receiver on loopback, as a user would run one: it keeps every request (headers and
body as received) and answers as the test says (a status, a redirect, a few failures first)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> Any:
        """The body, once its signature checks out with the secret (raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    url: str
    status: int = 200
    location: str | None = None  # answered with status (a 3xx) when set
    delay: float = 0.0  # seconds before answering
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def got(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while len(self.got()) < count:
            assert time.monotonic() < deadline, f"{len(self.got())} of {count} requests came"
            await asyncio.sleep(0.05)
        return self.got()


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.requests.append(Received(dict(self.headers.items()), body))
            if state.delay:
                time.sleep(state.delay)
            self.send_response(state.status)
            if state.location:
                self.send_header("Location", state.location)
            answer = b"ok" * 2000  # longer than what is kept of an answer
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(answer)  # a sender reads 1 KB and may hang up

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
