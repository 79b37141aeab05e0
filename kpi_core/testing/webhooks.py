"""A webhook receiver on loopback for tests: a real HTTP server (http.server, on a thread) that verifies
each delivery's signature, as a receiver following docs/notifications.md would.

``answers`` is a list of statuses to give, in turn (then 200); a status of
``"hang"`` keeps the request open past the sender's timeout. Deliveries are
kept with their headers, body and whether the signature held; ``unique``
counts them by ``X-KPI-Delivery``, as a receiver that drops repeats would.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """The receiver's check, written from docs/notifications.md (not the sender's code)."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, signature)


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    secret: str
    port: int = 0
    answers: list[Any] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/kpi"

    def unique(self) -> dict[str, list[Delivery]]:
        found: dict[str, list[Delivery]] = {}
        for delivery in self.deliveries:
            found.setdefault(delivery.headers.get("X-KPI-Delivery", ""), []).append(delivery)
        return found


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name: value for name, value in self.headers.items()}
            ok = verify(receiver.secret, headers.get("X-KPI-Timestamp", ""), body, headers.get("X-KPI-Signature", ""))
            receiver.deliveries.append(Delivery(self.path, headers, body, ok))
            receiver.arrived.set()
            answer = receiver.answers.pop(0) if receiver.answers else 200
            if answer == "hang":
                receiver.release.wait(30)
                answer = 200
            if isinstance(answer, tuple):  # (status, Location) for a redirect
                self.send_response(answer[0])
                self.send_header("Location", answer[1])
            else:
                self.send_response(answer if ok else 401)
            payload = b"ok" if ok else b"bad signature"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port) until the block ends."""
    receiver = Receiver(secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        time.sleep(0.01)
        server.shutdown()
        server.server_close()
