"""Near duplicates to review: the groups above the calibrated threshold, a page at a time,
and one request that keeps one copy and deletes or tags the others."""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut
from api.services import Services, ServicesDep
from engine.dedup import NEAR_DUPLICATE, duplicate_groups, suggested_keep
from index import Catalog, Item

router = APIRouter(prefix="/v1/duplicates", tags=["duplicates"])
MAX_RESOLVE = 100  # copies one request may delete or tag


class DuplicateOut(BaseModel):
    item_id: str
    similarity: float = Field(description="Its best calibrated similarity within the group.")
    client_key: str | None
    product: str | None
    width: int | None
    height: int | None
    created_at: datetime
    thumbnail_url: str
    image_url: str


class DuplicateGroupOut(BaseModel):
    keep: str = Field(description="The copy to keep by the rule: most pixels, then oldest.")
    items: list[DuplicateOut]


class DuplicatePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"groups": [], "total": 0, "next_offset": None}]}
    )

    groups: list[DuplicateGroupOut]
    total: int = Field(description="Groups above the threshold in the whole catalog.")
    next_offset: int | None = Field(None, description="Pass as `offset` for the next page.")


class Resolve(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"keep": "9f2c...", "others": ["4b1d..."]}]},
    )

    keep: str = Field(max_length=64, description="The copy that stays.")
    others: list[Annotated[str, Field(max_length=64)]] = Field(
        min_length=1, max_length=MAX_RESOLVE, description="The copies to delete or tag."
    )
    action: Literal["delete", "tag"] = Field(
        "delete", description='delete them, or tag them {"duplicate_of": keep} and keep them'
    )


class Resolved(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kept": "9f2c...", "deleted": ["4b1d..."], "tagged": []}]}
    )

    kept: str
    deleted: list[str]
    tagged: list[str]


class _Groups:
    """The catalog's groups, found again only when its index changed and the last search
    is over a minute old: finding them searches the neighbours of every item, a cost for
    the catalog's size, not for every page (nor for every upload while it is being
    filled). Copies deleted since are left out of a page; new ones wait for the next."""

    FRESH_S = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the catalog by weak reference: an id() could name a later catalog (another app
        # in the same process) once the first is gone
        self._catalog: weakref.ref[Catalog] | None = None
        self._threshold = -1.0
        self._state: tuple[int, int] = (-1, -1)  # the index's version and size, when found
        self._found_at = 0.0
        self._groups: list[list[tuple[str, float]]] = []

    def get(self, services: Services, threshold: float) -> list[list[tuple[str, float]]]:
        catalog = services.serving.catalog
        state = (catalog.version, len(catalog.index))
        with self._lock:
            same = self._catalog is not None and self._catalog() is catalog
            stale = state != self._state and time.monotonic() - self._found_at > self.FRESH_S
            if not same or threshold != self._threshold or stale:
                self._groups = duplicate_groups(catalog, threshold)
                self._catalog, self._threshold = weakref.ref(catalog), threshold
                self._state, self._found_at = state, time.monotonic()
            return self._groups


_found = _Groups()


def _out(item: Item, similarity: float) -> DuplicateOut:
    return DuplicateOut(
        item_id=item.id,
        similarity=similarity,
        client_key=item.client_key,
        product=item.product,
        width=item.width,
        height=item.height,
        created_at=item.created_at,
        thumbnail_url=f"/v1/items/{item.id}/thumbnail",
        image_url=f"/v1/items/{item.id}/image",
    )


def _page(services: Services, threshold: float, limit: int, offset: int) -> DuplicatePage:
    groups = _found.get(services, threshold)
    page = groups[offset : offset + limit]
    rows = services.engine.store.get_items([i for g in page for i, _ in g])
    out = []
    for group in page:
        members = [(rows[i], s) for i, s in group if i in rows]  # deleted since: left out
        if len(members) < 2:
            continue
        keep = suggested_keep([item for item, _ in members])
        out.append(DuplicateGroupOut(keep=keep.id, items=[_out(i, s) for i, s in members]))
    more = offset + limit < len(groups)
    return DuplicatePage(
        groups=out, total=len(groups), next_offset=offset + limit if more else None
    )


@router.get(
    "",
    response_model=DuplicatePage,
    summary="Groups of near duplicates to review, largest first",
    description="Each group lists its copies (thumbnails, size, age) and the one to keep by "
    "the documented rule: the most pixels, then the oldest. Found by each item's nearest "
    "neighbours above the calibrated `threshold`; found again when the index changed, at most "
    "once a minute.",
    responses={422: {"model": ErrorOut, "description": "A bad threshold, limit or offset."}},
    openapi_extra=needs(Scope.read),
)
async def list_duplicates(
    services: ServicesDep,
    threshold: Annotated[float, Query(ge=0, le=1)] = NEAR_DUPLICATE,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DuplicatePage:
    return await run_in_threadpool(_page, services, threshold, limit, offset)


def _resolve(services: Services, request: Resolve) -> Resolved:
    store = services.engine.store
    others = list(dict.fromkeys(i for i in request.others if i != request.keep))
    if not others:
        raise ApiError(422, "nothing_to_resolve", "Name at least one copy besides the kept one.")
    found = store.get_items([request.keep, *others])
    missing = [i for i in [request.keep, *others] if i not in found]
    if missing:
        raise ApiError(404, "not_found", f"No item has the id '{missing[0][:80]}'.")
    if request.action == "tag":
        for item_id in others:
            store.merge_metadata(item_id, {"duplicate_of": request.keep})
        return Resolved(kept=request.keep, deleted=[], tagged=others)
    for item_id in others:
        services.remove_item(item_id)
    return Resolved(kept=request.keep, deleted=others, tagged=[])


@router.post(
    "/resolve",
    response_model=Resolved,
    summary="Keep one copy; delete the others, or tag them",
    responses={
        404: {"model": ErrorOut, "description": "An id is unknown; nothing was changed."},
        422: {"model": ErrorOut, "description": "Nothing to resolve."},
    },
    openapi_extra=needs(Scope.write),
)
async def resolve(services: ServicesDep, request: Resolve) -> Resolved:
    return await run_in_threadpool(_resolve, services, request)
