"""Content-addressed blob store: image bytes kept under the sha256 of their content.

Workers and the API fetch originals by item id, so the catalog does not depend on the
uploader's files staying where they were. The blobs are objects in the catalog's home (a
folder or an object-store prefix), so a worker on another host reads what the API stored.
"""

from __future__ import annotations

import hashlib

from index.errors import ItemNotFoundError
from index.storage import Objects


def content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    @staticmethod
    def key(item_id: str) -> str:
        if len(item_id) != 64 or any(c not in "0123456789abcdef" for c in item_id):
            raise ItemNotFoundError(f"'{item_id[:80]}' is not an item id.")
        return f"{item_id[:2]}/{item_id}"

    def put(self, data: bytes) -> str:
        """Store `data`; a second put of the same bytes is a no-op."""
        item_id = content_id(data)
        key = self.key(item_id)
        if not self.objects.exists(key):
            self.objects.put(key, data)
        return item_id

    def get(self, item_id: str) -> bytes:
        try:
            return self.objects.get(self.key(item_id))
        except FileNotFoundError as exc:
            raise ItemNotFoundError(f"No image is stored for item {item_id}.") from exc

    def delete(self, item_id: str) -> None:
        self.objects.delete(self.key(item_id))
