"""Where images come from besides local files: URLs, lists, and CSV/JSONL manifests.

URL fetching is guarded: only the allowed schemes, no loopback, private or link-local
address unless allowed (a server must not be turned against its own network), a timeout,
no redirects, and the same size cap as files, checked while the body streams in.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
import socket
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpcore
import httpx

from engine.errors import EngineError, OutsideFolderError, SourceNotFoundError
from engine.settings import EngineSettings


class FetchError(EngineError):
    code = "fetch_failed"


def is_url(text: str) -> bool:
    return "://" in text


def _check_address(host: str, settings: EngineSettings) -> str | None:
    """The one address the fetch will connect to, checked to be public; None when private
    addresses are allowed (the fetch then resolves as usual)."""
    if settings.allow_private_urls:
        return None
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"The host {host} could not be resolved.") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise FetchError(
                f"The URL points to a private or local address ({address}); "
                "set LOOKALIKE_ALLOW_PRIVATE_URLS=true to allow it."
            )
    return str(infos[0][4][0])


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to the address that was checked, whatever the name resolves to by then: a
    DNS answer that changes between the check and the fetch (rebinding) cannot send the
    fetch to a private address. TLS still verifies the URL's host name."""

    def __init__(self, address: str) -> None:
        self.address = address

    def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore.NetworkStream:
        return super().connect_tcp(self.address, port, *args, **kwargs)


def _transport(address: str | None) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False)
    if address is not None:
        pool = transport._pool
        assert isinstance(pool, httpcore.ConnectionPool)
        transport._pool = httpcore.ConnectionPool(
            ssl_context=pool._ssl_context, network_backend=_PinnedBackend(address)
        )
    return transport


# The form of a URL ingest fetches: http(s), a host (a name or an IPv4 address: no user
# info, no IPv6 literal), an optional port, then a path, query or fragment; no control
# characters or ASCII spaces anywhere (spelled out: `\s` differs between regex engines).
# The API's OpenAPI document carries it as the field's pattern.
URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\x00-\x20\x7f-\x9f/?#@\[\]:]+(:[0-9]{1,5})?([/?#][^\x00-\x20\x7f-\x9f]*)?$"
URL_FORM = re.compile(URL_PATTERN)


def check_url(url: str, settings: EngineSettings) -> str:
    """The URL's host when its form is acceptable: an allowed scheme, a host, and (without
    DNS) no literal private address. Raises FetchError with the reason. Cheap, so a request
    can refuse a bad URL before any job exists; the fetch checks the resolved address too."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in settings.url_schemes:
        allowed = ", ".join(settings.url_schemes)
        raise FetchError(f"The URL scheme '{parts.scheme[:20]}' is not allowed; use {allowed}.")
    if URL_FORM.fullmatch(url) is None:
        raise FetchError(f"'{url[:200]}' is not an http(s) URL with a host.")
    if not parts.hostname:
        raise FetchError(f"'{url[:200]}' has no host.")
    if not settings.allow_private_urls:
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            literal = None
        if (literal is not None and not literal.is_global) or parts.hostname == "localhost":
            raise FetchError(
                f"The URL points to a private or local address ({parts.hostname}); "
                "set LOOKALIKE_ALLOW_PRIVATE_URLS=true to allow it."
            )
    return parts.hostname


def fetch_url(url: str, settings: EngineSettings) -> bytes:
    """The URL's body. No proxy from the environment is used: the address check holds only
    for a connection this process makes itself."""
    address = _check_address(check_url(url, settings), settings)
    cap = settings.max_file_bytes
    try:
        with (
            httpx.Client(transport=_transport(address), trust_env=False) as client,
            client.stream("GET", url, timeout=settings.url_timeout_s, follow_redirects=False) as r,
        ):
            if r.status_code != 200:
                raise FetchError(f"The URL answered HTTP {r.status_code}.")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise FetchError(
                    f"The URL's body is {int(declared):,} bytes, over the limit of {cap:,}."
                )
            body = bytearray()
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > cap:
                    raise FetchError(f"The URL's body is over the limit of {cap:,} bytes.")
            return bytes(body)
    except httpx.TimeoutException as exc:
        raise FetchError(f"The URL did not answer within {settings.url_timeout_s:g} s.") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"The URL could not be fetched ({exc.__class__.__name__}).") from exc


class ManifestEntry(NamedTuple):
    source: str  # a path (resolved against the manifest's folder) or a URL
    client_key: str | None
    product: str | None
    metadata: dict[str, Any]


def _row_to_fields(row: dict[str, Any], where: str) -> ManifestEntry:
    source = row.pop("url", None) or row.pop("path", None) or row.pop("source", None)
    if not source:
        raise SourceNotFoundError(f"{where} has no path or url.")
    key = row.pop("client_key", None) or row.pop("key", None)
    product = row.pop("product", None)
    metadata = row.pop("metadata", None) or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata.strip() else {}
        except json.JSONDecodeError as exc:
            raise SourceNotFoundError(
                f"{where}: the metadata is not valid JSON ({exc.msg})."
            ) from exc
    if not isinstance(metadata, dict):
        raise SourceNotFoundError(f"{where}: the metadata must be a JSON object.")
    extra = {k: v for k, v in row.items() if k and v not in (None, "")}
    return ManifestEntry(
        str(source),
        str(key) if key else None,
        str(product) if product not in (None, "") else None,
        {**extra, **metadata},
    )


def read_manifest(path: Path, *, allow_outside: bool = False) -> list[ManifestEntry]:
    """(path or URL, client key, product, metadata) per line of a CSV, JSONL or plain list.

    CSV and JSONL name the image in `path`, `url` or `source`; `client_key` (or `key`),
    `product` (photos of one product share it) and `metadata` (a JSON object) are
    optional, and any other column becomes metadata. A plain
    list (.txt) holds one path or URL per line. Relative paths are taken from the manifest's
    folder, and a path that leads out of it (`../`, an absolute path, a link) is refused
    unless `allow_outside`: a manifest from elsewhere must not read the server's files.
    """
    if not path.is_file():
        raise SourceNotFoundError(f"{path} does not exist.")
    rows: list[ManifestEntry] = []
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        for n, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            rows.append(_row_to_fields(dict(row), f"{path.name} line {n}"))
    elif path.suffix.lower() in (".jsonl", ".ndjson"):
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SourceNotFoundError(f"{path.name} line {n} is not JSON ({exc.msg}).") from exc
            if not isinstance(row, dict):
                raise SourceNotFoundError(f"{path.name} line {n} is not a JSON object.")
            rows.append(_row_to_fields(row, f"{path.name} line {n}"))
    else:
        rows = [
            ManifestEntry(line.strip(), None, None, {})
            for line in text.splitlines()
            if line.strip() and not line.startswith("#")
        ]
    folder = path.parent.resolve()
    resolved = []
    for n, entry in enumerate(rows, start=1):
        source = entry.source
        if not is_url(source):
            local = path.parent / source  # an absolute source stays itself
            if not allow_outside and not local.resolve().is_relative_to(folder):
                raise OutsideFolderError(
                    f"{path.name} entry {n} ({source[:120]}) lies outside the manifest's folder; "
                    "move it there, or pass --allow-outside to read it anyway."
                )
            source = str(local)
        resolved.append(entry._replace(source=source))
    return resolved
