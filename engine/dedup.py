"""Near duplicates: the same picture resized, re-encoded, cropped a little or mirrored.

Exact duplicates are one item already (the id is the hash of the bytes). Near duplicates are
found by the calibrated similarity (see index.calibration), so one threshold serves every
model. The default was measured on generated copies of Oxford photos with
efficientnet_lite0 (tests/engine/test_dedup.py prints the figures): at 0.6 precision 0.98,
and mirrored, half-size and JPEG-quality-25 copies are found (recall 0.95-1.0); 80% crops
mostly are not (0.15): a crop removes a fifth of the picture, more than a copy should.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from index import Catalog, Hit, Item

NEAR_DUPLICATE = 0.6
CHUNK = 16_384  # vectors read from LanceDB at a time
SEARCH_BATCH = 1024  # queries per FAISS call: the index's lock is held that long, no more


def duplicate_groups(
    catalog: Catalog,
    threshold: float = NEAR_DUPLICATE,
    neighbours: int = 10,
    progress: Callable[[int], None] | None = None,
) -> list[list[tuple[str, float]]]:
    """Groups of near-duplicate items, each with its best similarity to the group; the
    largest groups first. Every item's nearest neighbours (the index's own search) are
    joined when close enough.

    The vectors stream from LanceDB a chunk at a time, and the union-find holds only the
    items that have a close neighbour: memory follows the chunk and the duplicates found,
    not the catalog (an all-ids table at a million items was most of the old cost)."""
    calibration = catalog.calibration()
    parent: dict[str, str] = {}
    best: dict[str, float] = {}

    def root(item_id: str) -> str:
        while parent[item_id] != item_id:
            parent[item_id] = parent[parent[item_id]]
            item_id = parent[item_id]
        return item_id

    def join(a: str, b: str, similarity: float) -> None:
        for x in (a, b):
            parent.setdefault(x, x)
            best[x] = max(best.get(x, 0.0), similarity)
        parent[root(a)] = root(b)

    for ids, vectors in catalog.store.iter_vectors(catalog.model_id, catalog.dim, CHUNK):
        for start in range(0, len(ids), SEARCH_BATCH):
            with catalog.lock:  # a FAISS index is not searched while another thread writes
                results = catalog.index.search(
                    vectors[start : start + SEARCH_BATCH], neighbours + 1
                )
            for me, row in zip(ids[start : start + SEARCH_BATCH], results, strict=True):
                for other, score in row:
                    if other == me:
                        continue
                    similarity = float(calibration.similarity(score))
                    if similarity >= threshold:
                        join(me, other, similarity)
        if progress:
            progress(len(ids))
    groups: dict[str, list[tuple[str, float]]] = {}
    for item_id in best:
        groups.setdefault(root(item_id), []).append((item_id, round(best[item_id], 4)))
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0][0]))


def suggested_keep(items: Sequence[Item]) -> Item:
    """Which copy of a group of near duplicates to keep: the most pixels (the least
    resized or cropped), then the oldest (the one that came first), then the lowest id."""
    return min(
        items,
        key=lambda i: (-((i.width or 0) * (i.height or 0)), i.created_at, i.id),
    )


def near_duplicate_of(
    catalog: Catalog, vector: np.ndarray, exclude: Sequence[str], threshold: float = NEAR_DUPLICATE
) -> tuple[str, float] | None:
    """The closest other item when it is a near duplicate of `vector`."""
    hits = catalog.search(vector, 1, exclude=[list(exclude)])[0]
    if not hits:
        return None
    similarity = float(catalog.calibration().similarity(hits[0].score))
    return (hits[0].item.id, similarity) if similarity >= threshold else None


def collapse(catalog: Catalog, hits: list[Hit], threshold: float = NEAR_DUPLICATE) -> list[Hit]:
    """Hits without the near duplicates of a better-ranked hit."""
    if len(hits) < 2:
        return hits
    stored = catalog.vectors_of([h.item.id for h in hits])
    calibration = catalog.calibration()
    kept: list[Hit] = []
    kept_vectors: list[np.ndarray] = []
    for hit in hits:
        vector = stored.get(hit.item.id)
        if vector is not None and kept_vectors:
            closest = float(np.max(np.stack(kept_vectors) @ vector))
            if calibration.similarity(closest) >= threshold:
                continue
        kept.append(hit)
        if vector is not None:
            kept_vectors.append(vector)
    return kept
