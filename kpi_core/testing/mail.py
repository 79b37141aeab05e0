"""A real SMTP server on loopback for tests (aiosmtpd), and a self-signed certificate for its TLS.

The server keeps every message it accepted, as the bytes it received; tests
parse them with the standard ``email`` package. It can refuse recipients,
require STARTTLS and a login, or speak TLS from the first byte, and can hold
a message at its DATA step (``hold``) so that a test can kill the sender
while the server has the message but has not yet answered.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Recorder:
    """The handler: records accepted messages; refuses the addresses in ``refuse`` with 550."""

    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    hold: threading.Event | None = None
    """While set to an unset Event, DATA waits on it after recording the message (a sender killed meanwhile)."""
    hold_rcpt: threading.Event | None = None
    """While set to an unset Event, RCPT waits on it: the sender is mid-conversation, nothing is received yet."""
    at_rcpt: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        self.at_rcpt.set()
        if self.hold_rcpt is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.hold_rcpt.wait, 30)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        self.arrived.set()
        if self.hold is not None:
            import asyncio

            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 30)
        return f"250 2.0.0 Ok: queued as TEST{len(self.messages)}"

    def by_message_id(self) -> dict[str, list[Received]]:
        found: dict[str, list[Received]] = {}
        for message in self.messages:
            found.setdefault(str(message.parsed()["Message-ID"]), []).append(message)
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accept_login(user: str, password: str) -> Any:
    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return authenticate


@contextmanager
def smtp_server(
    *,
    mode: str = "plain",
    certificate: tuple[Path, Path] | None = None,
    login: tuple[str, str] | None = None,
) -> Iterator[tuple[Recorder, int]]:
    """An SMTP server on 127.0.0.1 (mode plain, starttls or tls); yields its recorder and port."""
    recorder = Recorder()
    port = free_port()
    options: dict[str, Any] = {}
    context = None
    if mode != "plain":
        assert certificate is not None, "STARTTLS and TLS need a certificate"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=True)
    if login is not None:
        # With TLS from the first byte aiosmtpd does not see the connection as TLS for AUTH; it is.
        options.update(authenticator=_accept_login(*login), auth_required=True, auth_require_tls=mode == "starttls")
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        ssl_context=context if mode == "tls" else None,
        **options,
    )
    controller.start()
    try:
        yield recorder, port
    finally:
        for event in (recorder.hold, recorder.hold_rcpt):
            if event is not None:
                event.set()
        controller.stop()


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, signed by its own key: (certificate file, key file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file
