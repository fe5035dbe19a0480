"""Password hashing (argon2id via argon2-cffi), the password rule, and one-time passwords.

argon2-cffi's defaults follow RFC 9106's second recommended profile; ``needs_rehash`` lets a
login upgrade an old hash when the defaults change.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Hashing:
    """argon2id with argon2-cffi's defaults, or (tests only) cheaper parameters."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher or PasswordHasher()
        self._dummy: str | None = None

    @classmethod
    def cheap(cls) -> Hashing:
        """Fast and weak: for tests that hash hundreds of passwords, never for accounts."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    def dummy(self) -> str:
        """A hash to verify against when the username is unknown, so that both cases cost
        one argon2 verification."""
        if self._dummy is None:
            self._dummy = self.hash(secrets.token_urlsafe(16))
        return self._dummy


DEFAULT = Hashing()

MIN_LENGTH = 10
MAX_LENGTH = 256
# No 0/O, 1/l/I: a one-time password is read off a screen or a slip of paper.
_ALPHABET = "abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRTUVWXY23456789"


def hash_password(password: str) -> str:
    return DEFAULT.hash(password)


def verify(password_hash: str, password: str) -> bool:
    return DEFAULT.verify(password_hash, password)


def one_time_password(length: int = 14) -> str:
    """An initial or reset password: the person must replace it at first login."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def problem(password: str, username: str, min_length: int = MIN_LENGTH) -> tuple[str, str] | None:
    """Why ``password`` is not acceptable as (Chinese, English), or None when it is."""
    if len(password) < min_length:
        return (
            f"密码至少需要 {min_length} 个字符。",
            f"The password needs at least {min_length} characters.",
        )
    if len(password) > MAX_LENGTH:
        return (
            f"密码最多 {MAX_LENGTH} 个字符。",
            f"The password can have at most {MAX_LENGTH} characters.",
        )
    if password.strip().lower() == username.strip().lower():
        return ("密码不能与用户名相同。", "The password must not be the username.")
    if len(set(password)) < 4:
        return (
            "密码过于简单，请混用不同的字符。",
            "The password is too simple; mix different characters.",
        )
    return None
