"""Checks of the addresses messages go to: webhook URLs (public addresses only) and e-mail addresses.

A webhook is a request our server makes to a URL an admin typed: unchecked,
it could reach the database, the cloud's metadata service or anything else on
the network the app runs in. So a URL must be http(s), and every address its
host name resolves to must be public, unless ``KPI_WEBHOOK_ALLOW_PRIVATE=1``.
The check is made when the endpoint is registered and again at every send,
and the sender connects to the address it checked (never resolving the name
a second time, which a hostile DNS server could answer differently).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from urllib.parse import urlsplit

URL_MAX = 2000
EMAIL_MAX = 254


class AddressRefused(ValueError):
    """The address cannot be used; the message says why, for the person who gave it."""


@dataclass(frozen=True)
class Target:
    """A checked URL: its parts and the IP address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    ip: str


def split_web_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or AddressRefused saying what is wrong."""
    if not isinstance(url, str) or not url.strip():
        raise AddressRefused("Enter the URL of the endpoint, starting with https://")
    if len(url) > URL_MAX:
        raise AddressRefused(f"The URL must be at most {URL_MAX} characters long")
    if any(ch.isspace() for ch in url):
        raise AddressRefused("The URL must not contain spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise AddressRefused(f"The URL cannot be read: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise AddressRefused("The URL must start with https:// or http://")
    if not parts.hostname:
        raise AddressRefused("The URL must name a host, such as https://example.com/hook")
    if parts.username or parts.password:
        raise AddressRefused("The URL must not contain a user name or password; use the secret to sign instead")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def is_public(ip: str) -> bool:
    """Whether ``ip`` is a public (globally routable) unicast address."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve_web_url(url: str, *, allow_private: bool) -> Target:
    """Check ``url`` and resolve its host: the address to connect to, or AddressRefused.

    Every address the name resolves to must be public (unless ``allow_private``): a name that
    resolves to one public and one private address is refused as a whole.
    """
    scheme, host, port, path = split_web_url(url)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise AddressRefused(f"The host name {host!r} cannot be found ({exc})") from None
    ips = list(dict.fromkeys(str(info[4][0]) for info in found))
    if not ips:
        raise AddressRefused(f"The host name {host!r} has no address")
    if not allow_private:
        private = [ip for ip in ips if not is_public(ip)]
        if private:
            raise AddressRefused(
                f"The URL points at a private, loopback or link-local address ({', '.join(private)}), which webhooks "
                "may not reach. Use a public address, or ask whoever runs the server to allow private ones (the "
                "configuration guide says how)"
            )
    return Target(scheme, host, port, path, ips[0])


def check_email(address: str) -> str | None:
    """Why ``address`` is not a usable e-mail address (a sentence), or None when it is."""
    if not isinstance(address, str) or not address.strip():
        return "there is no e-mail address"
    if len(address) > EMAIL_MAX:
        return f"the e-mail address is longer than {EMAIL_MAX} characters"
    if any(ch.isspace() or ord(ch) < 32 for ch in address) or address.count("@") != 1:
        return f"{address!r} is not a valid e-mail address"
    try:
        parsed = Address(addr_spec=address)
    except (HeaderParseError, ValueError, IndexError):
        return f"{address!r} is not a valid e-mail address"
    domain = parsed.domain
    if not parsed.username or not domain or "." not in domain.strip(".") or domain.startswith("."):
        return f"{address!r} is not a valid e-mail address: it needs a name, an @ and a domain such as example.com"
    return None
