"""The query path: embed (micro-batched), combine examples, search a page, make a cursor."""

from __future__ import annotations

from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from api.cursor import CursorCodec, SearchCursor
from api.errors import ApiError
from api.services import Services, Serving
from embedder import Box
from engine.grouping import Group, search_groups
from engine.metrics import observe_prepared, timed
from index import Catalog, Hit, MetadataFilter

NEGATIVE_WEIGHT = 0.5  # how far negatives push the query away (Rocchio's gamma)


async def embed_upload(serving: Serving, data: bytes, box: Box | None = None) -> np.ndarray:
    """An uploaded query image's vector (of `box` only, when given), micro-batched."""
    with serving.batcher.arriving():
        prepared = await run_in_threadpool(serving.engine.embedder.prepare, data, box)
    observe_prepared(prepared)
    return await serving.batcher.embed(prepared.tensor)


def combine(positives: list[np.ndarray], negatives: list[np.ndarray]) -> np.ndarray:
    """mean(positives) - 0.5 * mean(negatives), back on the unit sphere."""
    if not positives:
        raise ApiError(422, "no_examples", "Give at least one positive example, by id or upload.")
    query = np.mean(positives, axis=0)
    if negatives:
        query = query - NEGATIVE_WEIGHT * np.mean(negatives, axis=0)
    norm = float(np.linalg.norm(query))
    if norm < 1e-6:
        raise ApiError(422, "no_examples", "The positive and negative examples cancel out.")
    unit: np.ndarray = (query / norm).astype(np.float32)
    return unit


def check_k(services: Services, k: int | None) -> int:
    k = services.settings.default_k if k is None else k
    if not 1 <= k <= services.settings.max_k:
        raise ApiError(422, "bad_k", f"k must be between 1 and {services.settings.max_k}, not {k}.")
    return k


def search_page(
    catalog: Catalog,
    cursors: CursorCodec,
    vector: np.ndarray,
    k: int,
    *,
    filter_spec: dict[str, Any] | None,
    min_score: float | None,
    exclude: list[str],
    after: tuple[float, str] | None = None,
) -> tuple[list[Hit], str | None]:
    """One page of hits ranked after `after`, and the cursor for the page that follows."""
    where = MetadataFilter.parse(filter_spec)
    # Every page searches with the vector as the cursor stores it (float16), so that
    # scores, and so the page boundary, are the same from one page to the next.
    vector = SearchCursor.unpack_vector(SearchCursor.pack_vector(vector))
    fetch = k if after is None else 2 * k
    while True:
        with timed("index_search"):
            hits = catalog.search(
                vector, fetch, where=where, exclude=[exclude], min_score=min_score
            )[0]
        ordered = sorted(hits, key=lambda h: (-h.score, h.item.id))
        if after is not None:
            ordered = [h for h in ordered if (-h.score, h.item.id) > (-after[0], after[1])]
        exhausted = len(hits) < fetch
        if len(ordered) >= k or exhausted:
            break
        fetch *= 2
    page = ordered[:k]
    more = len(ordered) > k or not exhausted
    cursor = None
    if page and more:
        cursor = _cursor(cursors, catalog, vector, k, filter_spec, min_score, exclude, page[-1])
    return page, cursor


def _cursor(
    cursors: CursorCodec,
    catalog: Catalog,
    vector: np.ndarray,
    k: int,
    filter_spec: dict[str, Any] | None,
    min_score: float | None,
    exclude: list[str],
    last: Hit,
    group_size: int | None = None,
) -> str:
    """The signed cursor of the page after `last` (a grouped page's: its last group's best
    photo, and the grouping)."""
    return cursors.encode(
        SearchCursor(
            model_id=catalog.model_id,
            vector=SearchCursor.pack_vector(vector),
            k=k,
            filter=filter_spec,
            min_score=min_score,
            exclude=exclude,
            after_score=last.score,
            after_id=last.item.id,
            group_by="product" if group_size else None,
            group_size=group_size or 1,
        )
    )


def grouped_page(
    catalog: Catalog,
    cursors: CursorCodec,
    vector: np.ndarray,
    k: int,
    group_size: int,
    *,
    filter_spec: dict[str, Any] | None,
    min_score: float | None,
    exclude: list[str],
    after: tuple[float, str] | None = None,
    collapse: bool = False,
) -> tuple[list[Group], str | None]:
    """One page of k product groups ranked after `after`, and the next page's cursor."""
    where = MetadataFilter.parse(filter_spec)
    vector = SearchCursor.unpack_vector(SearchCursor.pack_vector(vector))  # as search_page
    with timed("index_search"):
        groups, more = search_groups(
            catalog,
            vector,
            k,
            group_size,
            where=where,
            exclude=exclude,
            min_score=min_score,
            after=after,
            collapse_duplicates=collapse,
        )
    cursor = None
    if groups and more and not collapse:  # a collapsed page does not page on, as ungrouped
        last = groups[-1].best
        cursor = _cursor(
            cursors, catalog, vector, k, filter_spec, min_score, exclude, last, group_size
        )
    return groups, cursor
