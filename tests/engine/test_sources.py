"""URLs, lists and manifests as sources; URL fetching refuses what it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import Engine, EngineSettings, find_images, ingest
from engine.ingest import from_manifest
from engine.sources import FetchError, fetch_url
from tests.images import jpeg


def test_fetch_guards(web: str) -> None:
    strict = EngineSettings()
    with pytest.raises(FetchError, match="private or local address"):
        fetch_url(f"{web}/0.jpg", strict)
    with pytest.raises(FetchError, match="scheme 'file' is not allowed"):
        fetch_url("file:///etc/passwd", strict)
    loose = EngineSettings(allow_private_urls=True, max_file_bytes=1000)
    assert fetch_url(f"{web}/0.jpg", EngineSettings(allow_private_urls=True)) == jpeg(0)
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_url(f"{web}/missing.jpg", loose)
    with pytest.raises(FetchError, match="over the limit"):
        fetch_url(f"{web}/big.jpg", loose)


def test_urls_ingest_and_a_bad_one_fails_alone(engine: Engine, web: str) -> None:
    engine.settings = EngineSettings(allow_private_urls=True, decode_threads=2)
    report = ingest(engine, find_images([f"{web}/0.jpg", f"{web}/1.jpg", f"{web}/nope.jpg"]))
    assert report.added == 2
    assert [o.error for o in report.failed] == ["The URL answered HTTP 404."]


def test_manifests(tmp_path: Path, engine: Engine, web: str) -> None:
    (tmp_path / "a.jpg").write_bytes(jpeg(7))
    (tmp_path / "m.csv").write_text(
        'path,client_key,metadata,brand\na.jpg,SKU-7,"{""colour"": ""red""}",acme\n'
    )
    rows = [{"url": f"{web}/2.jpg", "key": "SKU-2", "metadata": {"colour": "blue"}}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "m.txt").write_text(f"# a list\na.jpg\n{web}/1.jpg\n")
    csv_sources = from_manifest(tmp_path / "m.csv")
    assert csv_sources[0].path == tmp_path / "a.jpg" and csv_sources[0].client_key == "SKU-7"
    assert csv_sources[0].metadata == {"colour": "red", "brand": "acme"}
    jsonl = from_manifest(tmp_path / "m.jsonl")
    assert jsonl[0].url == f"{web}/2.jpg" and jsonl[0].metadata == {"colour": "blue"}
    assert [s.uri for s in from_manifest(tmp_path / "m.txt")] == [
        str(tmp_path / "a.jpg"),
        f"{web}/1.jpg",
    ]
    engine.settings = EngineSettings(allow_private_urls=True, decode_threads=2)
    report = ingest(engine, csv_sources + jsonl)
    assert report.added == 2
    assert engine.store.find_by_client_key("SKU-2")[0].metadata == {"colour": "blue"}
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    from engine import SourceNotFoundError

    with pytest.raises(SourceNotFoundError, match="line 1 is not JSON"):
        from_manifest(tmp_path / "bad.jsonl")


def test_a_url_is_fetched_from_the_address_that_was_checked(
    engine: Engine, web: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers a public address to the check and loopback after.
    The fetch must connect to the checked address (here nothing is sent anywhere: the
    connection is recorded and refused, since this machine reaches no public address)."""
    import socket

    import httpcore

    from engine.sources import FetchError, fetch_url

    port = int(web.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["93.184.215.14", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def rebinding(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host == "rebind.example":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    connected: list[str] = []

    def record(self: object, host: str, port: int, *args: object, **kwargs: object) -> None:
        connected.append(host)
        raise httpcore.ConnectError("refused by the test: no traffic leaves this machine")

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", record)
    with pytest.raises(FetchError):
        fetch_url(f"http://rebind.example:{port}/0.jpg", engine.settings)
    assert connected == ["93.184.215.14"]
