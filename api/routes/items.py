"""Items: upload, get, look up by key, list, fetch image and thumbnail, update, delete."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.cursor import ItemCursor, bad_cursor
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut, ItemOut, ItemPage, ItemPatch, JobOut, UploadResponse, UploadResult
from api.services import Services, ServicesDep
from api.validation import (
    check_client_key,
    check_metadata,
    parse_metadata,
    refuse_unknown_fields,
)
from embedder import decode_image
from engine import Source
from engine.dedup import near_duplicate_of
from index import MetadataFilter

router = APIRouter(prefix="/v1/items", tags=["items"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such item."},
    422: {"model": ErrorOut, "description": "A parameter is invalid."},
}
# An item's bytes never change (its id is their hash), so clients may cache them forever;
# behind keys only the client itself may: a shared cache would serve a keyed answer to all.
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
PRIVATE = {"Cache-Control": "private, max-age=31536000, immutable"}


def _caching(services: Services) -> dict[str, str]:
    return PRIVATE if services.keys.enabled() else IMMUTABLE


def _near_duplicates(services: Services, item_ids: list[str]) -> dict[str, tuple[str, float]]:
    """For each new item, an older item it nearly duplicates (not one from the same upload)."""
    catalog = services.serving.catalog
    vectors = catalog.vectors_of(item_ids)
    found = {}
    for item_id, vector in vectors.items():
        twin = near_duplicate_of(catalog, vector, exclude=item_ids)
        if twin is not None:
            found[item_id] = (twin[0], round(twin[1], 4))
    return found


def _aligned(values: list[str] | None, n: int, name: str) -> Sequence[str | None]:
    if not values:
        return [None] * n
    if len(values) == 1 and n > 1 and name in ("metadata", "products"):
        return values * n  # one metadata object, or one product, for every file
    if len(values) != n:
        raise ApiError(422, "misaligned", f"Send one {name} per file ({n}), not {len(values)}.")
    return list(values)


@router.post(
    "",
    response_model=UploadResponse,
    summary="Upload one or many catalog images",
    description="Multipart form: `files` (repeat for many), optionally one `client_keys`, "
    "one `products` and one `metadata` (a JSON object) per file, in the same order (one "
    "`products` or `metadata` value for all files is fine: a product's photos). A file "
    "already in the catalog is reported as `existed` and nothing new is created. A bad "
    "image fails alone. With `wait=false` the work runs in the background and a job is "
    "returned (202).",
    responses={
        202: {"model": JobOut, "description": "Accepted as a background job."},
        **ERRORS,
        413: {"model": ErrorOut, "description": "The body is too large."},
    },
    openapi_extra=needs(Scope.write),
)
async def upload(
    request: Request,
    services: ServicesDep,
    files: Annotated[list[UploadFile], File(description="Image files.")],
    client_keys: Annotated[
        list[str] | None, Form(description="Your key per file (SKU, name).")
    ] = None,
    products: Annotated[
        list[str] | None,
        Form(description="The product each photo shows (several photos share one)."),
    ] = None,
    metadata: Annotated[
        list[str] | None, Form(description='JSON object per file, e.g. {"colour": "red"}.')
    ] = None,
    wait: Annotated[
        bool, Query(description="Answer when done (true) or at once with a job.")
    ] = True,
) -> UploadResponse | JSONResponse:
    cap = services.settings.max_files_per_request
    if len(files) > cap:
        raise ApiError(
            413, "too_many_files", f"Send at most {cap} files per request, not {len(files)}."
        )
    await refuse_unknown_fields(request, ("files", "client_keys", "products", "metadata"))
    keys = _aligned(client_keys, len(files), "client_keys")
    of_product = _aligned(products, len(files), "products")
    metas = _aligned(metadata, len(files), "metadata")
    results: list[UploadResult | None] = []
    sources: list[Source] = []
    for upload_file, key, product, meta in zip(files, keys, of_product, metas, strict=True):
        name = upload_file.filename
        try:
            parsed = parse_metadata(meta)
            check_client_key(key)
            check_client_key(product, "product")
        except ValueError as exc:
            results.append(
                UploadResult(
                    filename=name,
                    item_id=None,
                    status="failed",
                    existed=False,
                    error=str(exc),
                    client_key=key,
                )
            )
            continue
        data = await upload_file.read()
        sources.append(
            Source(
                uri=f"upload:{name or ''}",
                data=data,
                client_key=key or None,
                product=product or None,
                metadata=parsed,
            )
        )
        results.append(None)
    if not wait:
        job, _ = await run_in_threadpool(services.submit, sources)
        return JSONResponse(JobOut.of(job).model_dump(mode="json"), status_code=202)
    outcomes = iter(await services.ingest_now(sources, request.is_disconnected))
    final: list[UploadResult] = []
    for result, key in zip(results, keys, strict=True):
        if result is not None:
            final.append(result)
            continue
        o = next(outcomes)
        status = {"skipped": "existed"}.get(o.status, o.status)
        final.append(
            UploadResult(
                filename=o.source.removeprefix("upload:") or None,
                item_id=o.item_id,
                status=status,
                existed=status == "existed",
                error=o.error,
                client_key=key,
            )
        )
    added = [r.item_id for r in final if r.status == "added" and r.item_id]
    if added:
        twins = await run_in_threadpool(_near_duplicates, services, added)
        for r in final:
            if r.item_id in twins:
                r.near_duplicate_of, r.near_duplicate_similarity = twins[r.item_id]
    return UploadResponse(
        results=final,
        added=sum(r.status == "added" for r in final),
        existed=sum(r.existed for r in final),
        failed=sum(r.status == "failed" for r in final),
    )


@router.get(
    "",
    response_model=ItemPage,
    summary="List items, with filters and a cursor",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
def list_items(
    services: ServicesDep,
    status: Annotated[
        Literal["embedded", "failed", "queued"] | None,
        Query(description="Only items in this state."),
    ] = None,
    filter: Annotated[
        str | None, Query(description='Metadata filter as JSON, e.g. {"colour":"red"}')
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> ItemPage:
    where = MetadataFilter.parse(filter)
    after = None
    if cursor:
        key = services.cursors.decode(cursor, ItemCursor)
        try:
            after = (datetime.fromisoformat(key.created_at), key.id)
        except ValueError:
            raise bad_cursor() from None
    page, more = services.engine.store.list_page(limit, after, status, where)
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = services.cursors.encode(
            ItemCursor(created_at=last.created_at.isoformat(), id=last.id)
        )
    return ItemPage(items=[ItemOut.of(i) for i in page], next_cursor=next_cursor)


@router.get(
    "/by-key/{client_key}",
    response_model=list[ItemOut],
    summary="Look up items by your key",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
def by_key(services: ServicesDep, client_key: str) -> list[ItemOut]:
    return [ItemOut.of(i) for i in services.engine.store.find_by_client_key(client_key)]


@router.get(
    "/{item_id}",
    response_model=ItemOut,
    summary="Get an item",
    responses=ERRORS,
    openapi_extra=needs(Scope.read),
)
def get_item(
    services: ServicesDep,
    item_id: str,
    include: Annotated[
        Literal["vector"] | None,
        Query(description="vector: add the item's vector under the active model."),
    ] = None,
) -> ItemOut:
    item = services.engine.store.get_item(item_id)
    if include != "vector":
        return ItemOut.of(item)
    catalog = services.serving.catalog
    vector = catalog.vectors_of([item_id]).get(item_id)
    if vector is None:
        return ItemOut.of(item)
    return ItemOut.of(item, model_id=catalog.model_id, vector=[float(x) for x in vector])


@router.get(
    "/{item_id}/image",
    summary="The original image bytes",
    responses=ERRORS,
    response_class=Response,
    openapi_extra=needs(Scope.read),
)
def get_image(services: ServicesDep, item_id: str) -> Response:
    item = services.engine.store.get_item(item_id)
    data = services.engine.blobs.get(item_id)
    media = f"image/{(item.format or 'octet-stream').lower()}"
    return Response(data, media_type=media, headers=_caching(services))


def _thumbnail(services: Services, item_id: str) -> bytes:
    size = services.settings.thumbnail_px
    path = services.thumbs_dir / f"{size}" / item_id[:2] / f"{item_id}.jpg"
    if path.is_file():
        return path.read_bytes()
    decoded = decode_image(services.engine.blobs.get(item_id), draft_size=size)
    image = decoded.image
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")  # concurrent requests, own files
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return buf.getvalue()


@router.get(
    "/{item_id}/thumbnail",
    summary="A small JPEG of the image",
    responses=ERRORS,
    response_class=Response,
    openapi_extra=needs(Scope.read),
)
def get_thumbnail(services: ServicesDep, item_id: str) -> Response:
    services.engine.store.get_item(item_id)
    return Response(
        _thumbnail(services, item_id),
        media_type="image/jpeg",
        headers=_caching(services),
    )


@router.patch(
    "/{item_id}",
    response_model=ItemOut,
    summary="Update metadata, client key or product",
    responses=ERRORS,
    openapi_extra=needs(Scope.write),
)
def patch_item(services: ServicesDep, item_id: str, patch: ItemPatch) -> ItemOut:
    values: dict[str, Any] = {}
    if patch.metadata is not None:
        try:
            values["metadata_json"] = json.dumps(check_metadata(patch.metadata), sort_keys=True)
        except ValueError as exc:
            raise ApiError(422, "bad_metadata", str(exc)) from exc
    if patch.client_key is not None:
        try:
            check_client_key(patch.client_key)
        except ValueError as exc:
            raise ApiError(422, "bad_client_key", str(exc)) from exc
        values["client_key"] = patch.client_key
    if patch.product is not None:
        try:
            check_client_key(patch.product, "product")
        except ValueError as exc:
            raise ApiError(422, "bad_product", str(exc)) from exc
        values["product"] = patch.product or None  # "" takes the photo out of its product
    if not values:
        return ItemOut.of(services.engine.store.get_item(item_id))
    # one conditional write of the PATCH's own columns: a worker's status write beside it
    # (another process) is kept, and so is this
    return ItemOut.of(services.engine.store.update_item(item_id, **values))


@router.delete(
    "/{item_id}",
    status_code=204,
    summary="Delete an item; it leaves results at once",
    responses=ERRORS,
    response_class=Response,
    openapi_extra=needs(Scope.write),
)
def delete_item(services: ServicesDep, item_id: str) -> Response:
    services.remove_item(item_id)
    return Response(status_code=204)
