"""API keys: create, revoke, verify. Only the sha256 of a key's secret is stored.

A key reads `lk_<key_id>_<secret>`: the id finds the row, the secret is compared by hash in
constant time. Secrets are 256 random bits, so a plain sha256 (not a slow password hash) is
enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from index import ApiKey, ItemNotFoundError, Store

PREFIX = "lk"


class Scope(StrEnum):
    """Each scope includes the ones before it: admin can write, write can read."""

    read = "read"
    write = "write"
    admin = "admin"


RANK = {Scope.read: 0, Scope.write: 1, Scope.admin: 2}


def grants(scopes: Sequence[str], needed: Scope) -> bool:
    return any(s in RANK and RANK[Scope(s)] >= RANK[needed] for s in scopes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRing:
    """The keys of one store, cached and re-read when the keys table changes."""

    def __init__(self, store: Store, check_every_s: float = 1.0) -> None:
        self.store = store
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}
        self._version = -1
        self._checked = 0.0

    def _fresh(self) -> dict[str, ApiKey]:
        now = time.monotonic()
        with self._lock:
            if now - self._checked >= self.check_every_s:
                self._checked = now
                version = self.store.keys_version()
                if version != self._version:
                    self._keys = {k.key_id: k for k in self.store.list_keys()}
                    self._version = version
            return self._keys

    def create(
        self, scopes: Sequence[str], name: str = "", rate_per_s: float | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its token; the token is shown once and never stored."""
        wanted = [Scope(s) for s in dict.fromkeys(scopes)]  # ValueError names a bad scope
        if not wanted:
            raise ValueError("Give a key at least one scope: read, write or admin.")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            name=name,
            scopes=[s.value for s in wanted],
            secret_sha256=_digest(secret),
            created_at=datetime.now(UTC),
            rate_per_s=rate_per_s,
        )
        self.store.save_key(key)
        self._checked = 0.0
        return key, f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        key = {k.key_id: k for k in self.store.list_keys()}.get(key_id)
        if key is None:
            raise ItemNotFoundError(f"No API key has the id '{key_id[:40]}'.")
        revoked = key.model_copy(update={"revoked": True})
        self.store.save_key(revoked)
        self._checked = 0.0
        return revoked

    def list(self) -> list[ApiKey]:
        return self.store.list_keys()

    def enabled(self) -> bool:
        """Access control is on as soon as one key that is not revoked exists."""
        return any(not k.revoked for k in self._fresh().values())

    def verify(self, token: str) -> ApiKey | None:
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        key = self._fresh().get(parts[1])
        if key is None or key.revoked:
            return None
        return key if hmac.compare_digest(key.secret_sha256, _digest(parts[2])) else None
