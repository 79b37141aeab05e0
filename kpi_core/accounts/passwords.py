"""Password hashing (argon2id) and the password policy.

The policy follows NIST SP 800-63B: length is what makes a password strong,
so it asks for at least 12 characters, counted after Unicode normalisation
(NFKC), and refuses what a guesser tries first: passwords from real breaches,
the username, one character repeated and runs such as ``123456789012``. It
sets no composition rules (a digit, a capital, a symbol): they make passwords
harder to remember, not harder to guess. Passwords are normalised before
hashing too, so the same password typed on another keyboard still matches.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from itertools import pairwise

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256  # bounded before hashing so a huge password cannot tie up a worker

BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cf"})
"""Unicode categories of spaces and invisible format characters (such as U+200B, zero width space)."""
CONTROL_CATEGORY = "Cc"
LONGEST_REPEATED_BLOCK = 4  # "aaaa…", "abab…", "abcabc…", "passpasspass" are one short block repeated
_DECORATION = re.compile(r"^[\W\d_]+|[\W\d_]+$")
"""Digits, punctuation and spaces around a word: "dragon123456" is still "dragon"."""

_hasher = PasswordHasher()


class PasswordRejected(ValueError):
    """The password does not meet the policy; the message says, in plain words, what to choose instead."""


def normalise(password: str) -> str:
    """The password as it is counted, compared and hashed: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """Common and breached passwords, case-folded: the 30,000 of zxcvbn's list, loaded on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.casefold() for word in FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, username: str) -> None:
    """Raise :class:`PasswordRejected` unless ``password`` meets the policy."""
    if len(password) > MAX_LENGTH:  # before normalising: never spend work on a huge input
        raise PasswordRejected(f"Choose a password of at most {MAX_LENGTH} characters")
    normal = normalise(password)
    categories = [unicodedata.category(character) for character in normal]
    if CONTROL_CATEGORY in categories:
        raise PasswordRejected("Remove the control characters, such as tabs or line breaks, from the password")
    if all(category in BLANK_CATEGORIES for category in categories) and normal:
        raise PasswordRejected(
            "Choose a password with letters, numbers or symbols in it, not only spaces or invisible characters"
        )
    if len(normal) < MIN_LENGTH:
        raise PasswordRejected(f"Choose a password of at least {MIN_LENGTH} characters")
    if len(normal) > MAX_LENGTH:
        raise PasswordRejected(f"Choose a password of at most {MAX_LENGTH} characters")
    folded = normal.strip().casefold()
    word = _DECORATION.sub("", folded)
    if username and normalise(username).strip().casefold() in {folded, word}:
        raise PasswordRejected("Choose a password that is different from the username")
    if _repeats_or_runs(folded):
        raise PasswordRejected("Choose a password that is not one character repeated or a run such as 123456")
    if folded in common_passwords() or word in common_passwords():
        raise PasswordRejected(
            "This password is too common and easy to guess. Choose a longer phrase of your own, "
            "such as three or four unrelated words"
        )


def _repeats_or_runs(text: str) -> bool:
    """One short block over and over ("aaaaaaaaaaaa", "abababababab"), or a run ("123456789012", "lkjihgfedcba")."""
    for size in range(1, min(LONGEST_REPEATED_BLOCK, len(text) // 2) + 1):
        if len(text) % size == 0 and text == text[:size] * (len(text) // size):
            return True
    steps = {_step(before, after) for before, after in pairwise(text)}
    return steps in ({1}, {-1})


def _step(before: str, after: str) -> int:
    if before.isdigit() and after.isdigit() and before.isascii() and after.isascii():
        return (int(after) - int(before) + 5) % 10 - 5  # 9 -> 0 continues a run of digits
    return ord(after) - ord(before)


def hash_password(password: str) -> str:
    return _hasher.hash(normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches; never raises for a wrong or malformed hash."""
    if len(password) > MAX_LENGTH:
        return False
    normal = normalise(password)
    # Hashes made before passwords were normalised hold the password as it was typed.
    candidates = [normal] if normal == password else [normal, password]
    return any(_matches(password_hash, candidate) for candidate in candidates)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
