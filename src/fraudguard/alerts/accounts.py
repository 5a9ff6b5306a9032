"""Who may use the alert service: users with a role and a password (Argon2 hashes, via pwdlib), and API
tokens for scripts (only their SHA-256 is stored; revocable). Kept in the alert store's database."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pwdlib import PasswordHash

from fraudguard.alerts.store import AlertStore, Role, api_tokens, users

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
MIN_PASSWORD = 12
_hasher = PasswordHash.recommended()
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))
"""Verified against when the user does not exist, so that the answer takes as long either way."""


class AccountError(ValueError):
    """A user or token request that cannot be done (the message says why)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this user has `role`'s rights (admin > reviewer > viewer)."""
        order = list(Role)
        return order.index(self.role) >= order.index(role)


@dataclass(frozen=True)
class Token:
    id: int
    username: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


class Accounts:
    def __init__(self, store: AlertStore) -> None:
        self.engine = store.engine

    # -- users -----------------------------------------------------------------------------------------

    def add_user(self, username: str, password: str, role: Role) -> User:
        if not re.match(USERNAME_PATTERN, username):
            raise AccountError(f"user name {username!r}: expected letters, digits and . _ @ - (at most 64)")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
        row = {"username": username, "password_hash": _hasher.hash(password), "role": role.value,
               "created_at": datetime.now(UTC)}  # fmt: skip
        try:
            with self.engine.begin() as connection:
                user_id = connection.execute(users.insert().values(**row).returning(users.c.id)).scalar_one()
        except sa.exc.IntegrityError:
            raise AccountError(f"user {username!r} exists already") from None
        return User(user_id, username, role)

    def remove_user(self, username: str) -> bool:
        """Remove the user and their tokens; their sessions end at their next request."""
        with self.engine.begin() as connection:
            found = connection.scalar(sa.select(users.c.id).where(users.c.username == username))
            if found is None:
                return False
            connection.execute(api_tokens.delete().where(api_tokens.c.user_id == found))
            connection.execute(users.delete().where(users.c.id == found))
        return True

    def users(self) -> list[dict[str, Any]]:
        """Every user, without the password hash."""
        query = sa.select(users.c.username, users.c.role, users.c.created_at).order_by(users.c.username)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def any_user(self) -> bool:
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(users.c.id).limit(1)) is not None

    def user(self, user_id: int) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(users.c.id, users.c.username, users.c.role).where(users.c.id == user_id)
            ).first()
        return None if row is None else User(row.id, row.username, Role(row.role))

    def authenticate(self, username: str, password: str) -> User | None:
        with self.engine.connect() as connection:
            row = connection.execute(users.select().where(users.c.username == username)).first()
        if row is None:
            _hasher.verify(password, _UNKNOWN_USER_HASH)
            return None
        valid, updated_hash = _hasher.verify_and_update(password, row.password_hash)
        if not valid:
            return None
        if updated_hash is not None:  # the recommended parameters changed: store the stronger hash
            with self.engine.begin() as connection:
                connection.execute(
                    users.update().where(users.c.id == row.id).values(password_hash=updated_hash)
                )
        return User(row.id, row.username, Role(row.role))

    # -- API tokens ------------------------------------------------------------------------------------

    def create_token(self, username: str, name: str) -> tuple[Token, str]:
        """A new token for `username`'s scripts, with that user's rights; the secret is shown once."""
        secret = f"fgt_{secrets.token_urlsafe(32)}"
        now = datetime.now(UTC)
        with self.engine.begin() as connection:
            user_id = connection.scalar(sa.select(users.c.id).where(users.c.username == username))
            if user_id is None:
                raise AccountError(f"no user {username!r}")
            row = {"user_id": user_id, "name": name, "token_hash": _digest(secret), "created_at": now}
            token_id = connection.execute(
                api_tokens.insert().values(**row).returning(api_tokens.c.id)
            ).scalar_one()
        return Token(token_id, username, name, now, None), secret

    def revoke_token(self, token_id: int, username: str | None = None) -> bool:
        """Revoke a token (only `username`'s, when given); False when there is no such live token."""
        query = api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        if username is not None:
            owner = sa.select(users.c.id).where(users.c.username == username).scalar_subquery()
            query = query.where(api_tokens.c.user_id == owner)
        with self.engine.begin() as connection:
            return connection.execute(query.values(revoked_at=datetime.now(UTC))).rowcount == 1

    def tokens(self, username: str | None = None) -> list[Token]:
        query = (
            sa.select(
                api_tokens.c.id,
                users.c.username,
                api_tokens.c.name,
                api_tokens.c.created_at,
                api_tokens.c.revoked_at,
            )
            .join(users, users.c.id == api_tokens.c.user_id)
            .order_by(api_tokens.c.id)
        )
        if username is not None:
            query = query.where(users.c.username == username)
        with self.engine.connect() as connection:
            return [Token(*row) for row in connection.execute(query)]

    def token_user(self, secret: str) -> User | None:
        """The user a live token belongs to."""
        query = (
            sa.select(users.c.id, users.c.username, users.c.role)
            .join(api_tokens, api_tokens.c.user_id == users.c.id)
            .where(api_tokens.c.token_hash == _digest(secret), api_tokens.c.revoked_at.is_(None))
        )
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else User(row.id, row.username, Role(row.role))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
