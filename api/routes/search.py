"""Search: by uploaded image(s), by item id, by positive and negative examples, by cursor."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import torch
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.batching import Switching
from api.cursor import CursorCodec, SearchCursor, bad_cursor
from api.errors import ApiError, status_of
from api.keys import Scope
from api.query import check_k, combine, embed_upload, grouped_page, search_page
from api.schemas import (
    GROUP_BY,
    GROUP_SIZE,
    BatchQuery,
    BatchSearchResponse,
    ErrorOut,
    GroupOut,
    HitOut,
    SearchRequest,
    SearchResponse,
)
from api.services import Services, ServicesDep, Serving
from api.validation import FormBool, refuse_unknown_fields
from embedder import Box, EmbedderError
from engine.dedup import collapse
from engine.grouping import MAX_GROUP_SIZE, Group
from engine.search import expand_query
from index import (
    Calibration,
    FilterError,
    Hit,
    MetadataFilter,
    ModelMismatchError,
    content_id,
)

router = APIRouter(prefix="/v1", tags=["search"])
MAX_EXAMPLES = 100  # example ids per search: each one is a LanceDB read
COLLAPSE = "Drop near duplicates of a better hit (no next_cursor then)."
EXPAND = "Query expansion: also search with the mean of the top N results (0 = off; 3 is good)."

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "An example id is unknown."},
    409: {"model": ErrorOut, "description": "The cursor belongs to another model's index."},
    413: {"model": ErrorOut, "description": "The image or body is too large."},
    415: {"model": ErrorOut, "description": "The image format is not supported."},
    422: {"model": ErrorOut, "description": "Bad image, filter, k or cursor."},
    503: {"model": ErrorOut, "description": "Too many queries waiting; retry."},
}


IMAGE_SEARCH_FIELDS = (
    "files", "negative_files", "positive_ids", "negative_ids", "k", "filter", "min_score",
    "expand", "collapse", "exclude_self", "group_by", "group_size", "box",
)  # fmt: skip
BOX = (
    "Search by a region of the query image(s): x1,y1,x2,y2 in pixels of the file, or as "
    "fractions of its width and height (every value at most 1), e.g. 0.25,0.1,0.75,0.9."
)
GroupBy = Literal["product"]


def _hit_out(h: Hit, calibration: Calibration) -> HitOut:
    return HitOut(
        item_id=h.item.id,
        client_key=h.item.client_key,
        product=h.item.product,
        score=round(h.score, 6),
        similarity=round(float(calibration.similarity(h.score)), 4),
        metadata=h.item.metadata,
        thumbnail_url=f"/v1/items/{h.item.id}/thumbnail",
        image_url=f"/v1/items/{h.item.id}/image",
    )


def _response(
    serving: Serving,
    hits: list[Hit],
    cursor: str | None,
    start: float,
    calibration: Calibration,
    groups: list[Group] | None = None,
) -> SearchResponse:
    return SearchResponse(
        hits=[_hit_out(h, calibration) for h in hits],
        groups=None
        if groups is None
        else [
            GroupOut(key=g.key, product=g.product, hits=[_hit_out(h, calibration) for h in g.hits])
            for g in groups
        ],
        model_id=serving.catalog.model_id,
        next_cursor=cursor,
        took_ms=round((time.perf_counter() - start) * 1000, 3),
    )


def _stored_vectors(serving: Serving, ids: list[str]) -> list[np.ndarray]:
    found = serving.catalog.vectors_of(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        from index import ItemNotFoundError

        raise ItemNotFoundError(f"No embedded item has the id '{missing[0][:80]}'.")
    return [found[i] for i in ids]


@dataclass(frozen=True)
class Ask:
    """What one page of a search asks for, whichever route it came in by."""

    k: int
    filter_spec: dict[str, Any] | None
    min_score: float | None
    exclude: list[str]
    after: tuple[float, str] | None = None
    expand: int = 0
    collapse: bool = False
    group_by: GroupBy | None = None
    group_size: int = 1


async def _run(
    serving: Serving, cursors: CursorCodec, vector: np.ndarray, ask: Ask, start: float
) -> SearchResponse:
    k, exclude, expand, collapse_duplicates = ask.k, ask.exclude, ask.expand, ask.collapse
    if expand:
        vector = await run_in_threadpool(expand_query, serving.catalog, vector, expand, exclude)
    if ask.group_by:
        groups, cursor = await run_in_threadpool(
            lambda: grouped_page(
                serving.catalog,
                cursors,
                vector,
                k,
                ask.group_size,
                filter_spec=ask.filter_spec,
                min_score=ask.min_score,
                exclude=exclude,
                after=ask.after,
                collapse=collapse_duplicates,
            )
        )
        calibration = await run_in_threadpool(serving.catalog.calibration)
        best = [g.best for g in groups]
        return _response(serving, best, cursor, start, calibration, groups)
    hits, cursor = await run_in_threadpool(
        search_page,
        serving.catalog,
        cursors,
        vector,
        3 * k if collapse_duplicates else k,  # room for the copies that collapse away
        filter_spec=ask.filter_spec,
        min_score=ask.min_score,
        exclude=exclude,
        after=ask.after,
    )
    if collapse_duplicates:
        hits = (await run_in_threadpool(collapse, serving.catalog, hits))[:k]
        cursor = None  # a collapsed page does not page on
    calibration = await run_in_threadpool(serving.catalog.calibration)
    return _response(serving, hits, cursor, start, calibration)


def _filter_param(raw: str | None) -> dict[str, Any] | None:
    """Validate a filter given as JSON text (FilterError, a 422, says what is wrong)."""
    if raw is None or raw.strip() == "":
        return None
    MetadataFilter.parse(raw)
    spec: dict[str, Any] = json.loads(raw)  # an object: the parse above refuses anything else
    return spec


@router.post(
    "/search/image",
    response_model=SearchResponse,
    summary="Search by uploaded image(s), optionally with more examples",
    description="Multipart form. `files`: one or more query images (positives). Optional "
    "`negative_files`, `positive_ids`, `negative_ids` (repeatable) steer the query: it is "
    "mean(positives) - 0.5 mean(negatives). `filter` is a JSON object (equality, "
    '`{"in": [...]}`, `{"gte": n, "lt": m}`). The query images themselves are left out of '
    "the results unless `exclude_self=false`. `box` searches by a region of the query "
    "image(s).",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
async def search_by_image(
    http: Request,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="Query image(s).")],
    negative_files: Annotated[
        list[UploadFile] | None, File(description="Images to move away from.")
    ] = None,
    positive_ids: Annotated[list[str] | None, Form()] = None,
    negative_ids: Annotated[list[str] | None, Form()] = None,
    k: Annotated[int | None, Form(description="Results per page (default 10).")] = None,
    filter: Annotated[
        str | None, Form(description='e.g. {"colour": "red", "price": {"lt": 50}}')
    ] = None,
    min_score: Annotated[float | None, Form(ge=-1, le=1)] = None,
    expand: Annotated[int, Form(ge=0, le=10, description=EXPAND)] = 0,
    collapse: Annotated[FormBool, Form(description=COLLAPSE)] = False,
    exclude_self: Annotated[FormBool, Form()] = True,
    group_by: Annotated[GroupBy | None, Form(description=GROUP_BY)] = None,
    group_size: Annotated[int, Form(ge=1, le=MAX_GROUP_SIZE, description=GROUP_SIZE)] = 1,
    box: Annotated[str | None, Form(max_length=200, description=BOX)] = None,
) -> SearchResponse:
    start = time.perf_counter()
    k = check_k(services, k)
    region = Box.parse(box) if box else None  # a bad box is refused before any decode
    if len(files) + len(negative_files or []) > services.settings.max_files_per_request:
        raise ApiError(413, "too_many_files", "Too many query images in one request.")
    await refuse_unknown_fields(http, IMAGE_SEARCH_FIELDS)
    ids_pos, ids_neg = list(positive_ids or []), list(negative_ids or [])
    check_ids(ids_pos + ids_neg)
    # parsing and LanceDB reads run on threads: the event loop never waits on them
    filter_spec = await run_in_threadpool(_filter_param, filter)
    datas = [await f.read() for f in files]
    negative_datas = [await f.read() for f in negative_files or []]
    hashed = await run_in_threadpool(lambda: [content_id(d) for d in datas + negative_datas])
    exclude = hashed + ids_pos + ids_neg if exclude_self else []
    ask = Ask(
        k,
        filter_spec,
        min_score,
        exclude,
        expand=expand,
        collapse=collapse,
        group_by=group_by,
        group_size=group_size,
    )

    async def answer(serving: Serving) -> SearchResponse:
        positives = [await embed_upload(serving, d, region) for d in datas]
        negatives = [await embed_upload(serving, d) for d in negative_datas]
        if ids_pos or ids_neg:
            positives += await run_in_threadpool(_stored_vectors, serving, ids_pos)
            negatives += await run_in_threadpool(_stored_vectors, serving, ids_neg)
        vector = combine(positives, negatives)
        return await _run(serving, services.cursors, vector, ask, start)

    serving = services.serving  # one model and index for the whole request
    try:
        return await answer(serving)
    except Switching:
        if services.serving is serving:
            raise  # stopping, not switching: nothing newer to answer with
        # The catalog switched models while this request embedded with the old one: the
        # whole answer again with the new pair, so a reindex costs no request a 503.
        return await answer(services.serving)


@router.get(
    "/items/{item_id}/similar",
    response_model=SearchResponse,
    summary="Items that look like this item",
    description="Uses the item's stored vector: no image is decoded, no model is run.",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
async def similar_to_item(
    services: ServicesDep,
    item_id: str,
    k: Annotated[int | None, Query(description="Results per page (default 10).")] = None,
    filter: Annotated[str | None, Query(description="Metadata filter as a JSON object.")] = None,
    min_score: Annotated[float | None, Query(ge=-1, le=1)] = None,
    expand: Annotated[int, Query(ge=0, le=10, description=EXPAND)] = 0,
    collapse: Annotated[bool, Query(description=COLLAPSE)] = False,
    exclude_self: bool = True,
    group_by: Annotated[GroupBy | None, Query(description=GROUP_BY)] = None,
    group_size: Annotated[int, Query(ge=1, le=MAX_GROUP_SIZE, description=GROUP_SIZE)] = 1,
) -> SearchResponse:
    start = time.perf_counter()
    serving = services.serving  # one model and index for the whole request
    k = check_k(services, k)
    filter_spec = await run_in_threadpool(_filter_param, filter)
    vector = (await run_in_threadpool(_stored_vectors, serving, [item_id]))[0]
    exclude = [item_id] if exclude_self else []
    ask = Ask(
        k,
        filter_spec,
        min_score,
        exclude,
        expand=expand,
        collapse=collapse,
        group_by=group_by,
        group_size=group_size,
    )
    return await _run(serving, services.cursors, vector, ask, start)


@router.post(
    "/search",
    response_model=SearchResponse,
    summary="Search by example ids, or fetch the next page with a cursor",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
async def search_by_examples(services: ServicesDep, request: SearchRequest) -> SearchResponse:
    start = time.perf_counter()
    serving = services.serving  # one model and index for the whole request
    # k and the filter are checked even beside a cursor, which then wins: a request the
    # schema refuses is refused whichever way it pages (found by the contract run)
    if request.k is not None:
        check_k(services, request.k)
    if request.filter is not None:
        await run_in_threadpool(MetadataFilter.parse, request.filter)
    if request.cursor:
        cur, vector = await run_in_threadpool(_from_cursor, services, serving, request.cursor)
        after = (cur.after_score, cur.after_id)
        ask = Ask(
            cur.k,
            cur.filter,
            cur.min_score,
            cur.exclude,
            after,
            group_by=cur.group_by,
            group_size=cur.group_size,
        )
        return await _run(serving, services.cursors, vector, ask, start)
    k = check_k(services, request.k)
    check_ids(request.positive_ids + request.negative_ids)
    positives = await run_in_threadpool(_stored_vectors, serving, request.positive_ids)
    negatives = await run_in_threadpool(_stored_vectors, serving, request.negative_ids)
    vector = combine(positives, negatives)
    exclude = request.positive_ids + request.negative_ids if request.exclude_self else []
    ask = Ask(
        k,
        request.filter,
        request.min_score,
        exclude,
        expand=request.expand,
        collapse=request.collapse,
        group_by=request.group_by,
        group_size=request.group_size,
    )
    return await _run(serving, services.cursors, vector, ask, start)


def _from_cursor(
    services: Services, serving: Serving, token: str
) -> tuple[SearchCursor, np.ndarray]:
    """A cursor's search, checked as if its client had sent it: signature, size, k, vector
    and filter (a signed cursor is ours, but the rules may have changed since)."""
    cur = services.cursors.decode(token, SearchCursor)
    if cur.model_id != serving.catalog.model_id:
        raise ModelMismatchError("The cursor belongs to an index of another model; search again.")
    try:
        check_k(services, cur.k)
        MetadataFilter.parse(cur.filter)
    except (ApiError, FilterError) as exc:
        raise bad_cursor() from exc
    return cur, cur.query_vector(serving.catalog.dim)


def check_ids(ids: list[str]) -> None:
    cap = MAX_EXAMPLES
    if len(ids) > cap:
        raise ApiError(422, "too_many_examples", f"Give at most {cap} example ids, not {len(ids)}.")


QUERIES = (
    "JSON array of queries, each an object: positive_ids, negative_ids, files and "
    "negative_files (indexes into this request's `files`), box, k, filter, min_score, "
    'exclude_self, group_by, group_size; e.g. [{"files": [0], "k": 5}, {"positive_ids": '
    '["<id>"], "filter": {"colour": "red"}}].'
)


def _batch_queries(services: Services, raw: str, n_files: int) -> list[BatchQuery]:
    """The request's queries, each checked as its own search would be."""
    cap = services.settings.max_batch_queries
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "bad_queries", f"queries is not valid JSON ({exc.msg}).") from None
    if not isinstance(parsed, list) or not parsed:
        raise ApiError(422, "bad_queries", "queries must be a non-empty JSON array of objects.")
    if len(parsed) > cap:
        raise ApiError(
            413, "too_many_queries", f"Send at most {cap} queries at once, not {len(parsed)}."
        )
    try:
        queries = TypeAdapter(list[BatchQuery]).validate_python(parsed)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(422, "bad_queries", f"queries.{where}: {first['msg']}.") from None
    for n, q in enumerate(queries):
        try:
            check_k(services, q.k)
            check_ids(q.positive_ids + q.negative_ids)
            if q.filter is not None:
                MetadataFilter.parse(q.filter)
            if q.box is not None:
                Box.parse(q.box)
        except ApiError as exc:  # which query, then why
            raise ApiError(exc.status, exc.code, f"queries.{n}: {exc.detail}") from None
        except (FilterError, EmbedderError) as exc:
            raise ApiError(status_of(exc), exc.code, f"queries.{n}: {exc}") from None
        if not (q.files or q.positive_ids):
            raise ApiError(422, "no_examples", f"queries.{n} has no positive example.")
        beyond = [i for i in q.files + q.negative_files if i >= n_files]
        if beyond:
            raise ApiError(
                422, "bad_queries", f"queries.{n} names file {beyond[0]}; {n_files} were sent."
            )
    return queries


@router.post(
    "/search/batch",
    response_model=BatchSearchResponse,
    summary="Many searches in one request",
    description="Multipart form: `queries` (a JSON array, up to LOOKALIKE_MAX_BATCH_QUERIES) "
    "and the uploaded query images in `files`, which the queries name by index. Every image "
    "is embedded once, all in one forward pass (as many as the query batch size allows), "
    "and the searches run together (queries of one depth share one FAISS call). The "
    "answers come back in the queries' order, each as POST /v1/search/image answers.",
    responses={**ERRORS, 413: {"model": ErrorOut, "description": "Too many queries or files."}},
    openapi_extra=needs(Scope.read),
)
async def search_batch(
    http: Request,
    services: ServicesDep,
    queries: Annotated[str, Form(description=QUERIES)],
    files: Annotated[list[UploadFile] | None, File(description="Query images.")] = None,
) -> BatchSearchResponse:
    start = time.perf_counter()
    uploads = files or []
    if len(uploads) > services.settings.max_files_per_request:
        raise ApiError(413, "too_many_files", "Too many query images in one request.")
    await refuse_unknown_fields(http, ("queries", "files"))
    asks = await run_in_threadpool(_batch_queries, services, queries, len(uploads))
    datas = [await f.read() for f in uploads]
    hashed = await run_in_threadpool(lambda: [content_id(d) for d in datas])
    images = list(dict.fromkeys((i, q.box) for q in asks for i in [*q.files, *q.negative_files]))
    ids = list(dict.fromkeys(i for q in asks for i in [*q.positive_ids, *q.negative_ids]))

    def prepare(serving: Serving) -> list[torch.Tensor]:
        tensors = []
        for i, box in images:
            try:
                region = Box.parse(box) if box else None
                tensors.append(serving.engine.embedder.prepare(datas[i], region).tensor)
            except EmbedderError as exc:  # which file, then why
                raise ApiError(status_of(exc), exc.code, f"files.{i}: {exc}") from None
        return tensors

    async def answer(serving: Serving) -> BatchSearchResponse:
        with serving.batcher.arriving():
            tensors = await run_in_threadpool(prepare, serving)
        vector_of = dict(zip(images, await serving.batcher.embed_all(tensors), strict=True))
        stored = dict(zip(ids, await run_in_threadpool(_stored_vectors, serving, ids), strict=True))
        runs = []
        for q in asks:
            positives = [vector_of[(i, q.box)] for i in q.files]
            positives += [stored[i] for i in q.positive_ids]
            negatives = [vector_of[(i, q.box)] for i in q.negative_files]
            negatives += [stored[i] for i in q.negative_ids]
            mine = [hashed[i] for i in [*q.files, *q.negative_files]]
            exclude = mine + q.positive_ids + q.negative_ids if q.exclude_self else []
            ask = Ask(
                check_k(services, q.k),
                q.filter,
                q.min_score,
                exclude,
                group_by=q.group_by,
                group_size=q.group_size,
            )
            runs.append(_run(serving, services.cursors, combine(positives, negatives), ask, start))
        results = list(await asyncio.gather(*runs))  # concurrent searches share FAISS calls
        took = round((time.perf_counter() - start) * 1000, 3)
        return BatchSearchResponse(results=results, took_ms=took)

    serving = services.serving
    try:
        return await answer(serving)
    except Switching:
        if services.serving is serving:
            raise
        return await answer(services.serving)  # the catalog switched models meanwhile
