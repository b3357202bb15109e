"""Password hashing: argon2id at or above the OWASP floor (19 MiB, 2 iterations, parallelism 1)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum is m=19 MiB, t=2, p=1; we use a little more memory. Raising these makes
# needs_rehash() true for older hashes, which the login path then re-hashes.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024 + 5 * 1024, parallelism=1, hash_len=32, salt_len=16)

MIN_LENGTH = 8
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password``."""
    return HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches; never raises for a wrong or malformed hash."""
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return HASHER.check_needs_rehash(stored_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if password.strip() == "":
        return "the password must not be blank"
    return None
