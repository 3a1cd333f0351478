"""What a client may store with an item: one home for the rules every route applies
(uploads, URL ingest, PATCH), each raising ValueError with the reason in one sentence."""

from __future__ import annotations

import json
from typing import Any

MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 5
MAX_CLIENT_KEY = 512


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_metadata(value: Any) -> dict[str, Any]:
    """A JSON object of at most 16 KiB (as JSON) and 5 levels."""
    if not isinstance(value, dict):
        raise ValueError("The metadata must be a JSON object.")
    if len(json.dumps(value).encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"The metadata is over {MAX_METADATA_BYTES:,} bytes.")
    if _depth(value) > MAX_METADATA_DEPTH:
        raise ValueError(f"The metadata nests deeper than {MAX_METADATA_DEPTH} levels.")
    return value


def parse_metadata(raw: str | None) -> dict[str, Any]:
    """Metadata sent as JSON text (a form field): empty means none."""
    if raw is None or raw.strip() == "":
        return {}
    if len(raw.encode()) > MAX_METADATA_BYTES:
        raise ValueError(f"The metadata is over {MAX_METADATA_BYTES:,} bytes.")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"The metadata is not valid JSON ({exc.msg}).") from exc
    return check_metadata(value)


def check_client_key(key: str | None) -> str | None:
    """Printable text of at most 512 characters (no control characters: a key is shown in
    logs, CSV exports and headers)."""
    if key is None:
        return None
    if "\ufffd" in key:  # the form decoder's mark for bytes that were not UTF-8
        raise ValueError("The client key is not valid UTF-8 text.")
    if len(key) > MAX_CLIENT_KEY:
        raise ValueError(f"The client key is over {MAX_CLIENT_KEY} characters.")
    if any(not ch.isprintable() for ch in key):
        raise ValueError("The client key contains control characters.")
    return key
