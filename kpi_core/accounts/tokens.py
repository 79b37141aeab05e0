"""JWT access and refresh tokens (joserfc, from the Authlib project).

Access tokens live at most 15 minutes; refresh tokens rotate: each use issues
a new one in the same *family*, and a used one presented again revokes the
whole family (someone replayed a stolen token). Tokens carry a ``kid`` naming
the key that signed them, so keys rotate: new tokens use the current key and
tokens from former keys (KPI_PREVIOUS_SECRET_KEYS) stay valid until expiry.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from kpi_core.config import Settings

ALGORITHM = "HS256"
ISSUER = "handyman-kpi"
TokenType = Literal["access", "refresh"]


class TokenInvalid(Exception):
    """The token cannot be trusted; ``reason`` says why (for logs, not for clients)."""


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    type: TokenType
    jti: str
    family: str
    issued_at: float  # seconds since the epoch, to the millisecond
    expires_at: int
    role: str | None = None


def to_milliseconds(timestamp: float) -> float:
    """``timestamp`` rounded down to the millisecond (how ``iat`` is issued and compared)."""
    return math.floor(timestamp * 1000) / 1000


def key_id(secret: str) -> str:
    """A short, stable id for a key that does not reveal it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class TokenSigner:
    """Issues and verifies the product's tokens with the configured keys."""

    def __init__(self, settings: Settings) -> None:
        current = settings.resolved_secret_key()
        self.kid = key_id(current)
        self.access_ttl = settings.access_token_minutes * 60
        self.refresh_ttl = settings.refresh_token_days * 86400
        self.current_key = OctKey.import_key(current, {"kid": self.kid})
        self.keys = KeySet(
            [self.current_key] + [OctKey.import_key(old, {"kid": key_id(old)}) for old in settings.previous_secret_keys]
        )

    def issue(self, user_id: int, token_type: TokenType, *, family: str | None = None, role: str | None = None) -> str:
        now = time.time()
        ttl = self.access_ttl if token_type == "access" else self.refresh_ttl  # noqa: S105
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": str(user_id),
            "typ": token_type,
            "jti": uuid.uuid4().hex,
            "fam": family or uuid.uuid4().hex,
            # To the millisecond (a JWT NumericDate may have a fraction): whole seconds could not
            # tell a token issued just before a password reset from one issued just after it.
            "iat": to_milliseconds(now),
            "exp": int(now) + ttl,
        }
        if role:
            claims["role"] = role
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid}, claims, self.current_key)

    def verify(self, token: str, expected: TokenType) -> TokenClaims:
        """Check signature, algorithm, expiry and type; raise :class:`TokenInvalid` otherwise."""
        if not token or len(token) > 4096:
            raise TokenInvalid("missing or oversized token")
        try:
            decoded = jwt.decode(token, self.keys, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(
                leeway=5,
                iss={"essential": True, "value": ISSUER},
                sub={"essential": True},
                jti={"essential": True},
                exp={"essential": True},
                iat={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise TokenInvalid(f"{type(exc).__name__}: {exc}") from None
        claims = decoded.claims
        if claims.get("typ") != expected:
            raise TokenInvalid(f"expected a {expected} token, got typ={claims.get('typ')!r}")
        try:
            return TokenClaims(
                user_id=int(claims["sub"]),
                type=expected,
                jti=str(claims["jti"]),
                family=str(claims["fam"]),
                issued_at=float(claims["iat"]),
                expires_at=int(claims["exp"]),
                role=claims.get("role"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TokenInvalid(f"malformed claims: {exc}") from None
