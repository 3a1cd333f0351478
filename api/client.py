"""A small typed client for the Lookalike API (httpx)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from api.schemas import (
    BatchSearchResponse,
    ItemOut,
    ItemPage,
    JobOut,
    SearchResponse,
    UploadResponse,
)


class LookalikeError(Exception):
    """An error answer of the API: its status, code and one-sentence detail."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail


FileLike = str | Path | bytes


def _file(value: FileLike, name: str = "image") -> tuple[str, bytes]:
    if isinstance(value, bytes):
        return name, value
    path = Path(value)
    return path.name, path.read_bytes()


class LookalikeClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> LookalikeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _check(self, resp: httpx.Response) -> httpx.Response:
        if resp.status_code >= 400:
            try:
                body = resp.json()
                raise LookalikeError(
                    resp.status_code, body.get("error", "error"), body.get("detail", "")
                )
            except ValueError:
                raise LookalikeError(resp.status_code, "error", resp.text[:200]) from None
        return resp

    def upload(
        self,
        files: Sequence[FileLike],
        *,
        client_keys: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        products: Sequence[str] | str | None = None,
    ) -> UploadResponse:
        """`products`: one per file, or one for all (the photos of one product)."""
        parts = [("files", _file(f, f"image{n}")) for n, f in enumerate(files)]
        data: dict[str, Any] = {}
        if client_keys:
            data["client_keys"] = list(client_keys)
        if products:
            data["products"] = [products] if isinstance(products, str) else list(products)
        if metadata:
            data["metadata"] = [json.dumps(m) for m in metadata]
        resp = self._check(self._http.post("/v1/items", files=parts, data=data))
        return UploadResponse.model_validate(resp.json())

    def upload_async(self, files: Sequence[FileLike]) -> JobOut:
        parts = [("files", _file(f, f"image{n}")) for n, f in enumerate(files)]
        resp = self._check(self._http.post("/v1/items", files=parts, params={"wait": "false"}))
        return JobOut.model_validate(resp.json())

    def item(self, item_id: str, *, include_vector: bool = False) -> ItemOut:
        """One item; with `include_vector`, its vector under the active model too."""
        params = {"include": "vector"} if include_vector else {}
        resp = self._http.get(f"/v1/items/{item_id}", params=params)
        return ItemOut.model_validate(self._check(resp).json())

    def items(
        self,
        *,
        filter: dict[str, Any] | None = None,
        limit: int = 50,
        cursor: str | None = None,
        status: str | None = None,
    ) -> ItemPage:
        params: dict[str, Any] = {"limit": limit}
        if filter:
            params["filter"] = json.dumps(filter)
        if cursor:
            params["cursor"] = cursor
        if status:
            params["status"] = status
        return ItemPage.model_validate(
            self._check(self._http.get("/v1/items", params=params)).json()
        )

    def delete(self, item_id: str) -> None:
        self._check(self._http.delete(f"/v1/items/{item_id}"))

    def search_image(
        self,
        image: FileLike,
        *,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        min_score: float | None = None,
        group_by: str | None = None,
        group_size: int = 1,
        box: Sequence[float] | None = None,
    ) -> SearchResponse:
        """`box`: search by that region (x1, y1, x2, y2 in pixels, or fractions up to 1)."""
        data: dict[str, Any] = {}
        if k is not None:
            data["k"] = str(k)
        if group_by:
            data.update(group_by=group_by, group_size=str(group_size))
        if box is not None:
            data["box"] = ",".join(f"{v:g}" for v in box)
        if filter:
            data["filter"] = json.dumps(filter)
        if min_score is not None:
            data["min_score"] = str(min_score)
        resp = self._http.post("/v1/search/image", files=[("files", _file(image))], data=data)
        return SearchResponse.model_validate(self._check(resp).json())

    def similar(
        self,
        item_id: str,
        *,
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        group_by: str | None = None,
        group_size: int = 1,
    ) -> SearchResponse:
        params: dict[str, Any] = {}
        if k is not None:
            params["k"] = k
        if group_by:
            params.update(group_by=group_by, group_size=group_size)
        if filter:
            params["filter"] = json.dumps(filter)
        resp = self._http.get(f"/v1/items/{item_id}/similar", params=params)
        return SearchResponse.model_validate(self._check(resp).json())

    def search(
        self,
        *,
        positive_ids: Sequence[str] = (),
        negative_ids: Sequence[str] = (),
        k: int | None = None,
        filter: dict[str, Any] | None = None,
        cursor: str | None = None,
        group_by: str | None = None,
        group_size: int = 1,
    ) -> SearchResponse:
        body: dict[str, Any] = {
            "positive_ids": list(positive_ids),
            "negative_ids": list(negative_ids),
        }
        if group_by:
            body.update(group_by=group_by, group_size=group_size)
        if k is not None:
            body["k"] = k
        if filter is not None:
            body["filter"] = filter
        if cursor is not None:
            body = {"cursor": cursor}
        return SearchResponse.model_validate(
            self._check(self._http.post("/v1/search", json=body)).json()
        )

    def search_batch(
        self, queries: Sequence[dict[str, Any]], files: Sequence[FileLike] = ()
    ) -> BatchSearchResponse:
        """Many searches in one request; a query names its images by index into `files`."""
        parts = [("files", _file(f, f"query{n}")) for n, f in enumerate(files)]
        resp = self._http.post(
            "/v1/search/batch", data={"queries": json.dumps(list(queries))}, files=parts or None
        )
        return BatchSearchResponse.model_validate(self._check(resp).json())

    def job(self, job_id: str) -> JobOut:
        return JobOut.model_validate(self._check(self._http.get(f"/v1/jobs/{job_id}")).json())
