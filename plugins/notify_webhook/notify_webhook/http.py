"""One POST to a checked address: no redirects followed, time limits on connecting and reading.

The connection goes to the IP address the URL check resolved
(:func:`kpi_core.notify.addresses.resolve_web_url`), never to a second
resolution of the name, while TLS still verifies the certificate for the
host name (SNI and hostname check) and the Host header names it.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from kpi_core.notify.addresses import Target

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
ANSWER_MAX = 2000


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    location: str | None
    text: str
    seconds: float


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, target: Target, read_timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT)
        self.target, self.read_timeout = target, read_timeout

    def connect(self) -> None:
        self.sock = socket.create_connection((self.target.ip, self.target.port), CONNECT_TIMEOUT)
        self.sock.settimeout(self.read_timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, target: Target, read_timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=CONNECT_TIMEOUT, context=ssl.create_default_context())
        self.target, self.read_timeout = target, read_timeout

    def connect(self) -> None:
        sock = socket.create_connection((self.target.ip, self.target.port), CONNECT_TIMEOUT)
        sock.settimeout(self.read_timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.target.host)  # type: ignore[attr-defined]


def post(target: Target, body: bytes, headers: dict[str, str], *, read_timeout: float = READ_TIMEOUT) -> Answer:
    """POST ``body`` and read the answer (its first 2,000 characters); OSError and timeouts propagate."""
    connection_type = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = connection_type(target, read_timeout)
    started = time.monotonic()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read(ANSWER_MAX).decode("utf-8", "replace")
        return Answer(
            response.status,
            response.reason,
            response.getheader("Location"),
            " ".join(text.split())[:300],
            time.monotonic() - started,
        )
    finally:
        connection.close()
