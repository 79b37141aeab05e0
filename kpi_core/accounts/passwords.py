"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounded before hashing so a huge password cannot tie up a worker
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "password1234",
        "password12345",
        "passwordpassword",
        "qwertyuiop12",
        "qwertyuiopas",
        "iloveyou1234",
        "administrator",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "111111111111",
        "000000000000",
        "abc123456789",
        "football1234",
        "baseball1234",
        "trustno11234",
        "monkey123456",
        "dragon123456",
        "correcthorsebatterystaple",
        "handyman1234",
        "technician12",
        "passw0rd1234",
    }
)

_hasher = PasswordHasher()


class PasswordRejected(ValueError):
    """The password does not meet the policy; the message says why."""


def check_policy(password: str, *, username: str) -> None:
    """Raise :class:`PasswordRejected` unless ``password`` meets the policy."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"must be at most {MAX_LENGTH} characters")
    if password.strip().lower() == username.strip().lower():
        raise PasswordRejected("must not be the username")
    if password.lower() in COMMON_PASSWORDS:
        raise PasswordRejected("is too common; choose a longer phrase of your own")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; never raises for a wrong or malformed hash."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
