"""Near duplicates: the same picture resized, re-encoded, cropped a little or mirrored.

Exact duplicates are one item already (the id is the hash of the bytes). Near duplicates are
found by the calibrated similarity (see index.calibration), so one threshold serves every
model. The default was measured on generated copies of Oxford photos with
efficientnet_lite0 (tests/engine/test_dedup.py prints the figures): at 0.6 precision 0.98,
and mirrored, half-size and JPEG-quality-25 copies are found (recall 0.95-1.0); 80% crops
mostly are not (0.15): a crop removes a fifth of the picture, more than a copy should.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index import Catalog, Hit, Item

NEAR_DUPLICATE = 0.6


def duplicate_groups(
    catalog: Catalog, threshold: float = NEAR_DUPLICATE, neighbours: int = 10
) -> list[list[tuple[str, float]]]:
    """Groups of near-duplicate items, each with its best similarity to the group; the
    largest groups first. Every item's nearest neighbours are joined when close enough."""
    ids, vectors = catalog.store.read_vectors(catalog.model_id, catalog.dim)
    if len(ids) < 2:
        return []
    calibration = catalog.calibration()
    parent = list(range(len(ids)))
    position = {item_id: n for n, item_id in enumerate(ids)}

    def root(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    best: dict[int, float] = {}
    for start in range(0, len(ids), 1024):
        chunk = vectors[start : start + 1024]
        with catalog.lock:
            results = catalog.index.search(chunk, neighbours + 1)
        for offset, row in enumerate(results):
            me = start + offset
            for other_id, score in row:
                other = position.get(other_id)
                if other is None or other == me:
                    continue
                similarity = float(calibration.similarity(score))
                if similarity >= threshold:
                    parent[root(me)] = root(other)
                    best[me] = max(best.get(me, 0.0), similarity)
                    best[other] = max(best.get(other, 0.0), similarity)
    groups: dict[int, list[tuple[str, float]]] = {}
    for n in best:
        groups.setdefault(root(n), []).append((ids[n], round(best[n], 4)))
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
