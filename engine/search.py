"""The query path: an image or an item id in, ranked hits out."""

from __future__ import annotations

import re
from pathlib import Path

from engine.engine import Engine
from engine.errors import SourceNotFoundError
from index import Hit, ItemNotFoundError, MetadataFilter, content_id

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


def search_path_or_id(engine: Engine, query: str, k: int = 10, **kwargs: object) -> list[Hit]:
    path = Path(query).expanduser()
    if path.is_file():
        return search_image(engine, path.read_bytes(), k, **kwargs)  # type: ignore[arg-type]
    if is_item_id(query):
        return search_item(engine, query, k, **kwargs)  # type: ignore[arg-type]
    raise SourceNotFoundError(f"'{query}' is neither an image file nor an item id.")
