"""Schemathesis hooks of the contract run (`SCHEMATHESIS_HOOKS=bench.contract_hooks`).

A cursor is a token only the server makes (HMAC-signed, api/cursor.py): no generator can
invent a valid one, as none can invent a valid item id. The run gives schemathesis the
cursors this server issued before it started (LOOKALIKE_CONTRACT_CURSORS), as one gives it
the ids that exist; the stateful phase also follows `next_cursor` links on its own.
"""

from __future__ import annotations

import json
import os
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis.transport.serialization import Binary

from api.openapi import ITEMS_CURSOR, SEARCH_CURSOR
from bench.images import small_jpeg

_CURSORS: dict[str, list[str]] = json.loads(os.environ.get("LOOKALIKE_CONTRACT_CURSORS", "{}"))
for _format in (SEARCH_CURSOR, ITEMS_CURSOR):
    schemathesis.openapi.format(_format, st.sampled_from(_CURSORS.get(_format) or ["none"]))

# What a valid request holds that JSON Schema cannot say: an uploaded file must decode as an
# image, and `client_keys` and `metadata` go one per file. Schema-valid (positive) cases get
# real JPEGs and lists as long as their files; negative cases are left as generated.
# schemathesis's own wrapper for binary values: plain bytes would read as schema-invalid
_JPEGS = [Binary(small_jpeg(seed)) for seed in range(100, 104)]
_PER_FILE = ("client_keys", "metadata")


def _positive(meta: object) -> bool:
    """A case valid in every part: a negative case keeps what makes it negative."""
    generation = getattr(meta, "generation", None)
    components = getattr(meta, "components", {}) or {}
    return (
        generation is not None
        and generation.mode.is_positive
        and all(c.mode.is_positive for c in components.values())
    )


@schemathesis.hook
def before_call(
    context: schemathesis.HookContext, case: schemathesis.Case[Any], kwargs: dict[str, Any]
) -> None:
    given = case.body
    meta = case.meta
    if not isinstance(given, dict) or meta is None or not _positive(meta):
        return
    body: dict[str, Any] = dict(given)  # a new body: the generated one may be shared
    for field in ("files", "negative_files"):
        if isinstance(body.get(field), list):
            body[field] = [_JPEGS[i % len(_JPEGS)] for i in range(len(body[field]))]
    files = len(body.get("files") or [])
    for field in _PER_FILE:
        values = body.get(field)
        if isinstance(values, list) and files and len(values) not in (0, files):
            body[field] = (values * files)[:files]
    if "box" in body:
        body["box"] = _BOX
    if isinstance(body.get("queries"), list):
        body["queries"] = _batch_queries(body)
    _generated[id(case)] = case.body
    case.body = body


# A region is valid when it is not empty and lies inside the image, which a pattern cannot
# say: a valid case asks for the middle of the picture.
_BOX = "0.1,0.1,0.9,0.9"


def _batch_queries(body: dict[str, Any]) -> str:
    """The batch's queries as the JSON text the form field carries, each naming only files
    that were sent (an index the schema cannot bound), with a valid region."""
    queries = [dict(q) if isinstance(q, dict) else q for q in body["queries"]]
    named = any(
        isinstance(q, dict) and (q.get("files") or q.get("negative_files")) for q in queries
    )
    if named and not body.get("files"):
        body["files"] = [_JPEGS[0]]
    sent = max(1, len(body.get("files") or []))
    for q in queries:
        if not isinstance(q, dict):
            continue
        for field in ("files", "negative_files"):
            if isinstance(q.get(field), list):
                q[field] = [i % sent if isinstance(i, int) else i for i in q[field]]
        if q.get("box") is not None:
            q["box"] = _BOX
    return json.dumps(queries)


# The generated body goes back on the case once its answer is checked: schemathesis derives
# further cases (coverage variants, negative mutations) from a case, and they must start
# from what was generated, not from the images put in for this one call.
_generated: dict[int, Any] = {}


@schemathesis.hook
def after_validate(
    context: schemathesis.HookContext,
    case: schemathesis.Case[Any],
    response: object,
    results: list[Any],
) -> None:
    if id(case) in _generated:
        case.body = _generated.pop(id(case))
