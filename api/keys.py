"""API keys: create, revoke, verify. Only the sha256 of a key's secret is stored.

A key reads `lk_<key_id>_<secret>`: the id finds the row, the secret is compared by hash in
constant time. Secrets are 256 random bits, so a plain sha256 (not a slow password hash) is
enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from api.errors import ApiError
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


class LastAdminKeyError(ApiError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "last_admin_key",
            "This is the last admin key: create another admin key before revoking it, "
            "or no one could manage the keys any more.",
        )


class KeyRing:
    """The keys of one store, cached and re-read when the keys table changes.

    Access control is on as soon as one key has ever been created, revoked or not: revoking
    every key must lock the API, never open it. A server that has never had a key serves
    localhost only (`lookalike serve` refuses a public bind then).
    """

    def __init__(self, store: Store, check_every_s: float = 1.0) -> None:
        self.store = store
        self.check_every_s = check_every_s
        self._lock = threading.Lock()
        self._keys: dict[str, ApiKey] = {}
        self._version = -1
        self._checked = -math.inf

    def due(self) -> bool:
        """Whether the next lookup would read the store (the middleware then reads it on a
        thread, so the event loop never waits on LanceDB)."""
        return time.monotonic() - self._checked >= self.check_every_s

    def reload(self) -> None:
        with self._lock:
            self._checked = time.monotonic()
            version = self.store.keys_version()
            if version != self._version:
                self._keys = {k.key_id: k for k in self.store.list_keys()}
                self._version = version

    def _fresh(self, fresh: bool) -> dict[str, ApiKey]:
        if fresh and self.due():
            self.reload()
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
        self.store.create_key(key)
        self._checked = -math.inf
        return key, f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key; the last admin key that is not revoked cannot be (409)."""
        with _revoking:
            keys = {k.key_id: k for k in self.store.list_keys()}
            key = keys.get(key_id)
            if key is None:
                raise ItemNotFoundError(f"No API key has the id '{key_id[:40]}'.")
            admins = [k for k in keys.values() if not k.revoked and grants(k.scopes, Scope.admin)]
            if admins == [key]:
                raise LastAdminKeyError()
            self.store.revoke_key(key_id)
        self._checked = -math.inf
        return key.model_copy(update={"revoked": True})

    def list(self) -> list[ApiKey]:
        return self.store.list_keys()

    def enabled(self, fresh: bool = True) -> bool:
        """Access control is on once any key exists, revoked or not."""
        return bool(self._fresh(fresh))

    def verify(self, token: str, fresh: bool = True) -> ApiKey | None:
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        key = self._fresh(fresh).get(parts[1])
        if key is None or key.revoked:
            return None
        return key if hmac.compare_digest(key.secret_sha256, _digest(parts[2])) else None


# Two revokes in one process take turns, so they cannot both see the other's key as the
# remaining admin. (Across processes the window is one LanceDB read; the CLI can always
# create a new admin key locally.)
_revoking = threading.Lock()
