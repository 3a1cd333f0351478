"""The OpenAPI document, made to say exactly what the server accepts and answers.

FastAPI derives the document from the route signatures, which cannot say everything: a
`filter` travels as JSON text in a query string or a form field, a list of files must not be
empty, a cursor is a token only this server makes, `k` and the number of files are capped by
the settings, and every error has one shape. This module fills those in, once, when the
document is first built.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.access import SCHEMES, SCOPE_FIELD
from api.schemas import BatchQuery
from api.settings import ApiSettings
from api.validation import CLIENT_KEY_PATTERN
from engine.sources import URL_PATTERN
from index import FILTER_SCHEMA

# Formats of the two cursor kinds: opaque, HMAC-signed tokens that only this server issues
# (api/cursor.py), so no client (or fuzzer) can make one up; they come from `next_cursor`.
SEARCH_CURSOR = "lookalike-search-cursor"
ITEMS_CURSOR = "lookalike-items-cursor"
ITEM_STATUSES = ["embedded", "failed", "queued"]
_NUMBER = r"\d{1,5}(\.\d{1,6})?"
BOX_PATTERN = f"^{_NUMBER}(,{_NUMBER}){{3}}$"  # x1,y1,x2,y2 (embedder/box.py)

ERROR_REF = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
# Any request may be refused by the HTTP server itself before a route sees it (a header with
# bytes HTTP does not allow, a broken request line): uvicorn answers 400 in plain text.
MALFORMED = {
    "description": "The HTTP request itself is malformed (refused by the server's HTTP parser).",
    "content": {"text/plain": {"schema": {"type": "string"}}},
}
REFUSALS = {
    "401": "No API key, a wrong or revoked one, or two that disagree.",
    "403": "The key lacks the scope, or a cookie-authorized write came from another origin.",
    "429": "Over the key's (or the address's) rate; see Retry-After.",
}


def install_openapi(app: FastAPI, settings: ApiSettings) -> None:
    """Serve the exact document at /openapi.json (and to /docs, with an Authorize button)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            schema.setdefault("components", {})["securitySchemes"] = SCHEMES
            document_errors(schema)
            exact_requests(schema, settings)
            app.openapi_schema = schema
        return app.openapi_schema

    # FastAPI's documented way to extend its schema is to replace this method
    app.openapi = openapi  # type: ignore[method-assign]


def document_errors(schema: dict[str, Any]) -> None:
    """Every status a route answers is in its entry, with the one error schema: the
    access middleware's refusals on protected routes, and 422 as `{error, detail}` (the
    handler in api/errors.py), not FastAPI's list of validation errors."""
    for op in _operations(schema):
        responses = op.setdefault("responses", {})
        responses.setdefault("400", MALFORMED)
        if SCOPE_FIELD in op:
            for status, text in REFUSALS.items():
                responses.setdefault(status, {"description": text, "content": ERROR_REF})
        if "422" in responses:
            responses["422"]["content"] = ERROR_REF
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)


def exact_requests(schema: dict[str, Any], settings: ApiSettings) -> None:
    components = schema.get("components", {}).get("schemas", {})
    for path, methods in schema.get("paths", {}).items():
        for op in methods.values():
            cursor = ITEMS_CURSOR if path == "/v1/items" else SEARCH_CURSOR
            for param in op.get("parameters", []):
                _exact_field(param["name"], param, settings, cursor, query=True)
            body = op.get("requestBody", {}).get("content", {})
            for media_type, media in body.items():
                form = media_type.startswith("multipart/")
                for model in _request_models(media.get("schema", {}), components):
                    if form:  # the routes refuse fields they do not take (api/validation.py)
                        model["additionalProperties"] = False
                    for name, prop in model.get("properties", {}).items():
                        _exact_property(name, prop, settings, cursor)
                        if form:
                            _not_null(prop)
                    if form and "queries" in model.get("properties", {}):
                        _batch_queries(model["properties"]["queries"], components, settings)


def _batch_queries(prop: dict[str, Any], components: dict[str, Any], settings: ApiSettings) -> None:
    """POST /v1/search/batch's `queries`: a form field holding a JSON array of BatchQuery
    objects (text to FastAPI, which cannot say what the text holds), each with the same
    rules as a single search's fields."""
    query = BatchQuery.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, field in query.get("properties", {}).items():
        _exact_property(name, field, settings, SEARCH_CURSOR)
    components["BatchQuery"] = query
    cap = settings.max_batch_queries
    prop.clear()
    prop.update(
        {
            "type": "array",
            "minItems": 1,
            "maxItems": cap,
            "items": {"$ref": "#/components/schemas/BatchQuery"},
            "description": f"JSON text: an array of up to {cap} queries.",
        }
    )


def _request_models(schema: dict[str, Any], components: dict[str, Any]) -> list[dict[str, Any]]:
    """The component models a request body is made of: its own and those its fields name
    (UrlIngest's items are UrlItems), each once."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref and name not in found and name in components:
                found[name] = components[name]
                walk(components[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return list(found.values())


def _exact_field(
    name: str, param: dict[str, Any], settings: ApiSettings, cursor: str, query: bool
) -> None:
    """A query parameter: the filter as a JSON object in the query string, k and the status
    as the server checks them, the cursor as the server's own token."""
    if name == "filter":
        param.pop("schema", None)
        param["content"] = {"application/json": {"schema": FILTER_SCHEMA}}
    elif name == "k":
        param["schema"] = _capped_k(settings)
    elif name == "status":
        param["schema"] = {"type": "string", "enum": ITEM_STATUSES}
    elif name == "cursor":
        param["schema"] = {"type": "string", "format": cursor}


def _exact_property(name: str, prop: dict[str, Any], settings: ApiSettings, cursor: str) -> None:
    """A body field (JSON or multipart), with the same rules as the query parameters."""
    if name == "filter":
        prop.pop("anyOf", None)
        prop.pop("type", None)
        prop.update({"anyOf": [FILTER_SCHEMA, {"type": "null"}]})
    elif name == "k":
        prop.pop("type", None)
        prop["anyOf"] = [_capped_k(settings), {"type": "null"}]
    elif name == "cursor":
        prop.pop("type", None)
        prop["anyOf"] = [{"type": "string", "format": cursor}, {"type": "null"}]
    elif name == "files":
        prop.update({"minItems": 1, "maxItems": settings.max_files_per_request})
    elif name in ("client_key", "product"):
        _string_branch(prop)["pattern"] = CLIENT_KEY_PATTERN
    elif name in ("client_keys", "products"):
        _string_branch(prop)["items"]["pattern"] = CLIENT_KEY_PATTERN
    elif name == "box":
        _string_branch(prop)["pattern"] = BOX_PATTERN
    elif name == "url":
        prop["pattern"] = URL_PATTERN


def _string_branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of an optional field (the field itself when it has none)."""
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    return options[0] if options else prop


def _not_null(prop: dict[str, Any]) -> None:
    """A form field cannot carry null (leaving it out is how a form says none)."""
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if "anyOf" in prop and len(options) == 1:
        del prop["anyOf"]
        prop.update(options[0])
    elif "anyOf" in prop:
        prop["anyOf"] = options


def _capped_k(settings: ApiSettings) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": settings.max_k}


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for methods in schema.get("paths", {}).values() for op in methods.values()]
