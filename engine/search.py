"""The query path: an image or an item id in, ranked hits out."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from embedder.projection import normalize
from engine.engine import Engine
from engine.errors import SourceNotFoundError
from engine.grouping import Group, search_groups
from index import Catalog, Hit, ItemNotFoundError, MetadataFilter, content_id

_ITEM_ID = re.compile(r"[0-9a-f]{64}")


def is_item_id(text: str) -> bool:
    return bool(_ITEM_ID.fullmatch(text))


# what a query searches: the catalog, the query vector, the ids left out of the answer
Query = tuple[Catalog, np.ndarray, list[str]]


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
    catalog, vector, exclude = _image_query(engine, data, exclude_self)
    return catalog.search(vector, k, where=where, exclude=[exclude], min_score=min_score)[0]


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
    catalog, vector, exclude = _item_query(engine, item_id, exclude_self)
    return catalog.search(vector, k, where=where, exclude=[exclude], min_score=min_score)[0]


def search_path_or_id(
    engine: Engine,
    query: str,
    k: int = 10,
    *,
    where: MetadataFilter | None = None,
    min_score: float | None = None,
    exclude_self: bool = True,
) -> list[Hit]:
    catalog, vector, exclude = query_of(engine, query, exclude_self)
    return catalog.search(vector, k, where=where, exclude=[exclude], min_score=min_score)[0]


def groups_path_or_id(
    engine: Engine,
    query: str,
    k: int = 10,
    size: int = 1,
    *,
    where: MetadataFilter | None = None,
    min_score: float | None = None,
    exclude_self: bool = True,
) -> list[Group]:
    """k products (and photos without one) for an image file or an item id."""
    catalog, vector, exclude = query_of(engine, query, exclude_self)
    groups, _ = search_groups(
        catalog, vector, k, size, where=where, exclude=exclude, min_score=min_score
    )
    return groups


def query_of(engine: Engine, query: str, exclude_self: bool = True) -> Query:
    """The catalog to search, the query vector of an image file or an item id, and what to
    leave out of the answer (the query itself, unless `exclude_self` is off)."""
    path = Path(query).expanduser()
    if path.is_file():
        return _image_query(engine, path.read_bytes(), exclude_self)
    if is_item_id(query):
        return _item_query(engine, query, exclude_self)
    raise SourceNotFoundError(f"'{query}' is neither an image file nor an item id.")


def _image_query(engine: Engine, data: bytes, exclude_self: bool) -> Query:
    exclude = [content_id(data)] if exclude_self else []
    return engine.catalog, engine.embedder.embed_bytes(data), exclude


def _item_query(engine: Engine, item_id: str, exclude_self: bool) -> Query:
    catalog = engine.active_catalog()
    vector = catalog.vectors_of([item_id]).get(item_id)
    if vector is None:
        raise ItemNotFoundError(f"No embedded item has the id {item_id}.")
    return catalog, vector, [item_id] if exclude_self else []


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
