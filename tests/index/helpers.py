from __future__ import annotations

import hashlib

import numpy as np

from index import Item, ItemStatus


def ids(n: int, prefix: str = "item") -> list[str]:
    return [hashlib.sha256(f"{prefix}{i}".encode()).hexdigest() for i in range(n)]


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def items(item_ids: list[str], **metadata_of: object) -> list[Item]:
    return [
        Item.new(
            i,
            source=f"file{n}.jpg",
            status=ItemStatus.embedded.value,
            metadata={"n": n, "colour": ["red", "green", "blue"][n % 3]},
        )
        for n, i in enumerate(item_ids)
    ]
