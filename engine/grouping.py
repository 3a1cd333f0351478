"""Searches that answer products, not photos: hits grouped by the items' `product` key.

A product's group holds its best-matching photos, ranked exactly against the query (its
members are found by the product key, not by hoping that the index returned them all); an
item without a product is a group of one. Groups are ranked by their best photo, the way
their shopper would see them. The index's ranking is read deeper and deeper until k groups
are complete or the catalog is exhausted: every photo the index has not returned yet
scores below the deepest one it has, so no unseen group can outrank a seen one.

Paging: a page after (score, id) holds the groups whose best photo ranks after it. A
product whose best photo ranks before it was on an earlier page, even when a lesser photo
of it turns up later in the index's ranking: that is why a product is judged by all of its
members and not by the first one seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.dedup import collapse
from index import Catalog, Hit, Item, MetadataFilter

MAX_GROUP_SIZE = 10  # photos per group in one answer


@dataclass(frozen=True)
class Group:
    key: str  # the product, or the item id of a photo that has none
    product: str | None
    hits: list[Hit]  # best first; never empty

    @property
    def best(self) -> Hit:
        return self.hits[0]


def _rank(hit: Hit) -> tuple[float, str]:
    return (-hit.score, hit.item.id)


def search_groups(
    catalog: Catalog,
    vector: np.ndarray,
    k: int,
    size: int = 1,
    *,
    where: MetadataFilter | None = None,
    exclude: Sequence[str] = (),
    min_score: float | None = None,
    after: tuple[float, str] | None = None,
    collapse_duplicates: bool = False,
) -> tuple[list[Group], bool]:
    """The k groups ranked after `after`, and whether more follow."""
    skip = set(exclude)
    members: dict[str, list[Hit]] = {}  # product -> its photos the filter keeps, best first
    fetch = 4 * k * size
    total = len(catalog.index)
    while True:
        hits = catalog.search(
            vector, fetch, where=where, exclude=[list(skip)], min_score=min_score
        )[0]
        exhausted = len(hits) < fetch or fetch >= total
        new = list(dict.fromkeys(p for h in hits if (p := h.item.product) and p not in members))
        members.update(_members(catalog, vector, new, where, skip, min_score))
        groups = _groups(hits, members)
        if after is not None:
            groups = [g for g in groups if _rank(g.best) > (-after[0], after[1])]
        if collapse_duplicates:
            groups = _collapsed(catalog, groups)
        if len(groups) > k or exhausted:
            return [Group(g.key, g.product, g.hits[:size]) for g in groups[:k]], len(groups) > k
        fetch = min(total, fetch * 4)


def _members(
    catalog: Catalog,
    vector: np.ndarray,
    products: list[str],
    where: MetadataFilter | None,
    skip: set[str],
    min_score: float | None,
) -> dict[str, list[Hit]]:
    """Each product's photos that the search would answer, scored exactly."""
    if not products:
        return {}
    found = catalog.store.items_of_products(products)
    items: dict[str, Item] = {
        it.id: it
        for group in found.values()
        for it in group
        if it.id not in skip and (where is None or where.matches(it.metadata))
    }
    stored = catalog.vectors_of(list(items))  # only embedded photos have one
    out: dict[str, list[Hit]] = {p: [] for p in products}
    for item_id, stored_vector in stored.items():
        score = float(np.dot(stored_vector, vector))
        if min_score is None or score >= min_score:
            item = items[item_id]
            out[item.product or ""].append(Hit(item, score))
    for photos in out.values():
        photos.sort(key=_rank)
    return out


def _groups(hits: list[Hit], members: dict[str, list[Hit]]) -> list[Group]:
    groups: dict[str, Group] = {}
    for hit in hits:
        product = hit.item.product
        key = product or hit.item.id
        if key in groups:
            continue
        photos = members.get(product, []) if product else [hit]
        if photos:  # empty: deleted since the index returned it
            groups[key] = Group(key, product, photos)
    return sorted(groups.values(), key=lambda g: _rank(g.best))


def _collapsed(catalog: Catalog, groups: list[Group]) -> list[Group]:
    """Groups without the near duplicates of a better group's best photo, each group's own
    photos without near duplicates of each other."""
    leaders = {h.item.id for h in collapse(catalog, [g.best for g in groups])}
    out = []
    for group in groups:
        if group.best.item.id in leaders:
            out.append(Group(group.key, group.product, collapse(catalog, group.hits)))
    return out
