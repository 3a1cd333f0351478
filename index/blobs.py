"""Content-addressed blob store: image bytes kept under the sha256 of their content.

Workers and the API fetch originals by item id, so the catalog does not depend on the
uploader's files staying where they were.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from index.errors import ItemNotFoundError


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, item_id: str) -> Path:
        if len(item_id) != 64 or any(c not in "0123456789abcdef" for c in item_id):
            raise ItemNotFoundError(f"'{item_id[:80]}' is not an item id.")
        return self.root / item_id[:2] / item_id

    def put(self, data: bytes) -> str:
        """Store `data`; a second put of the same bytes is a no-op."""
        item_id = content_id(data)
        target = self.path(item_id)
        if target.exists():
            return item_id
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return item_id

    def get(self, item_id: str) -> bytes:
        try:
            return self.path(item_id).read_bytes()
        except FileNotFoundError as exc:
            raise ItemNotFoundError(f"No image is stored for item {item_id}.") from exc

    def delete(self, item_id: str) -> None:
        self.path(item_id).unlink(missing_ok=True)
