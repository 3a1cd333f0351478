"""What a client may send and store: one home for the rules every route applies (uploads,
URL ingest, PATCH, searches): metadata, client keys, how a JSON number or a form boolean is
read, and which form fields a route takes. Value rules raise ValueError with the reason in
one sentence (pydantic and the routes turn it into a 422)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Request
from pydantic import BeforeValidator, StrictBool

from api.errors import ApiError

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


# Characters a client key may not hold: a key is shown in logs, CSV exports and headers, so
# no C0/C1 control characters (CR, LF, ESC...), no line or paragraph separators, no bidi
# overrides that make a key read as another; U+FFFD is the form decoder's mark for bytes
# that were not UTF-8. The OpenAPI document carries the same class as the field's pattern.
CLIENT_KEY_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd"
CLIENT_KEY_PATTERN = f"^[^{CLIENT_KEY_FORBIDDEN}]*$"
_FORBIDDEN = re.compile(f"[{CLIENT_KEY_FORBIDDEN}]")


def check_client_key(key: str | None, what: str = "client key") -> str | None:
    """Text of at most 512 characters, none of them CLIENT_KEY_FORBIDDEN: a client key, and
    a product key (`what` names which in the error)."""
    if key is None:
        return None
    if "\ufffd" in key:
        raise ValueError(f"The {what} is not valid UTF-8 text.")
    if len(key) > MAX_CLIENT_KEY:
        raise ValueError(f"The {what} is over {MAX_CLIENT_KEY} characters.")
    if _FORBIDDEN.search(key):
        raise ValueError(f"The {what} contains control characters.")
    return key


def _form_bool(value: object) -> object:
    """A form field's boolean is the text true or false, as the OpenAPI document says;
    "1", "on" or "yes" are refused rather than guessed."""
    if isinstance(value, str):
        if value.lower() in ("true", "false"):  # any case: Python clients send str(True)
            return value.lower() == "true"
        raise ValueError("must be true or false")
    return value


FormBool = Annotated[bool, BeforeValidator(_form_bool)]


def _not_text(value: object) -> object:
    """A JSON number is a number: "5" or true are refused, not converted (pydantic's lax
    mode would), so the body is read exactly as its schema says."""
    if isinstance(value, str | bool):
        raise ValueError("must be a number")
    return value


NOT_TEXT = BeforeValidator(_not_text)
JsonInt = Annotated[int, NOT_TEXT]
JsonFloat = Annotated[float, BeforeValidator(_not_text)]
JsonBool = StrictBool


async def refuse_unknown_fields(request: Request, allowed: tuple[str, ...]) -> None:
    """A multipart form is held to its schema as a JSON body is (`extra="forbid"`): a
    misspelt `metdata` is a 422, not ignored. The form is parsed once; this reads it back."""
    names = (await request.form()).keys()
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        raise ApiError(
            422,
            "unknown_field",
            f"The form has no field '{unknown[0][:80]}'; it takes {', '.join(allowed)}.",
        )
