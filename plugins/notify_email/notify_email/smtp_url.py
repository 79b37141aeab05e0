"""``KPI_SMTP_URL``: which mail server, how to reach it, and with which login.

- ``smtp://host:25``: plain SMTP, for a relay on the same machine or network;
  no login (a password is never sent unencrypted).
- ``smtp+starttls://user:password@host:587``: STARTTLS, required: a server
  that does not offer it is an error, never a fallback to plain text.
- ``smtps://user:password@host:465``: TLS from the first byte.

A user name or password with ``@``, ``:`` or ``/`` in it is percent-encoded
(``%40``, ``%3A``, ``%2F``). Certificates are checked against the system's
trusted authorities (a private authority: point ``SSL_CERT_FILE`` at its
certificate). ``?timeout=`` sets the seconds one step may take (default 30).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = {"smtp": ("plain", 25), "smtp+starttls": ("starttls", 587), "smtps": ("tls", 465)}
DEFAULT_TIMEOUT = 30


class SmtpUrlError(ValueError):
    """``KPI_SMTP_URL`` cannot be used; the message says why and how to write it."""


@dataclass(frozen=True)
class SmtpServer:
    """A parsed ``KPI_SMTP_URL``."""

    security: str  # plain | starttls | tls
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def describe(self) -> str:
        how = {"plain": "plain SMTP", "starttls": "SMTP with STARTTLS", "tls": "SMTP over TLS"}[self.security]
        login = f" as {self.username}" if self.username else ""
        return f"{how} to {self.host}:{self.port}{login}"


def parse_smtp_url(url: str) -> SmtpServer:
    """The server ``url`` names, or SmtpUrlError saying what is wrong (the password is never repeated)."""
    shown = _without_password(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SmtpUrlError(f"KPI_SMTP_URL {shown!r} cannot be read: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise SmtpUrlError(
            f"KPI_SMTP_URL {shown!r} must start with smtp:// (plain), smtp+starttls:// (STARTTLS) or smtps:// (TLS)"
        )
    if not parts.hostname:
        raise SmtpUrlError(f"KPI_SMTP_URL {shown!r} must name the mail server, such as smtp://mail.example.com:25")
    security, default_port = SCHEMES[parts.scheme]
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if security == "plain" and (username or password):
        raise SmtpUrlError(
            f"KPI_SMTP_URL {shown!r} sends a password over plain SMTP: use smtp+starttls:// or smtps:// to log in"
        )
    if (username is None) != (password is None):
        raise SmtpUrlError(f"KPI_SMTP_URL {shown!r} must give both a user name and a password, or neither")
    timeout = float(DEFAULT_TIMEOUT)
    query = parse_qs(parts.query)
    unknown = set(query) - {"timeout"}
    if unknown:
        raise SmtpUrlError(f"KPI_SMTP_URL {shown!r}: unknown option {', '.join(sorted(unknown))} (only timeout)")
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = -1
        if not 0 < timeout <= 600:
            raise SmtpUrlError(f"KPI_SMTP_URL {shown!r}: timeout must be a number of seconds from 1 to 600")
    return SmtpServer(security, parts.hostname, port or default_port, username, password, timeout)


def _without_password(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        if parts.password is None:
            return url
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable)"
    return parts._replace(netloc=f"{parts.username}:***@{host}{port}").geturl()
