"""Hostile and odd input against a real server: every kind gets a clear 4xx or fails alone in
its batch, its neighbours land, and the server's memory stays bounded while it is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.api.server import LIMIT, Server
from tests.hostile import bad_files, multipart, png_bomb
from tests.images import jpeg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # --inline: the files are judged (and the good ones embedded) by the server itself,
    # whose memory the test watches; no queue is needed for that
    srv = Server(tmp_path_factory.mktemp("hostile"), inline=True)
    yield srv
    srv.stop()


def _upload_corpus(url: str, round_no: int) -> dict[str, Any]:
    corpus = bad_files()
    parts = [("files", f.filename, f.data) for f in corpus]
    # two good neighbours, different every round, one on each side of the batch
    parts = [("files", b"before.jpg", jpeg(1000 + round_no)), *parts]
    parts.append(("files", b"after.jpg", jpeg(2000 + round_no)))
    body, headers = multipart(parts)
    resp = httpx.post(url + "/v1/items", content=body, headers=headers, timeout=120)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_every_bad_file_fails_alone_and_its_neighbours_land(server: Server) -> None:
    corpus = bad_files()
    results = _upload_corpus(server.url, 0)["results"]
    assert len(results) == len(corpus) + 2
    assert results[0]["status"] == "added" and results[-1]["status"] == "added"
    outcomes = {}
    for bad, got in zip(corpus, results[1:-1], strict=True):
        if bad.lands:
            assert got["status"] in ("added", "existed"), (bad.kind, got)
        else:
            assert got["status"] == "failed", (bad.kind, got)
            assert got["error"] and got["error"].endswith("."), (bad.kind, got)
            assert len(got["error"]) < 300, (bad.kind, got)  # one sentence, not a traceback
        outcomes[bad.kind] = got["status"]
    print(f"\n{len(corpus)} bad-file kinds:", json.dumps(outcomes, indent=1))
    # the traversal name is only a label: nothing was written outside the data folder
    assert not Path("/etc/passwd.jpg").exists()
    # a landed file is searchable, and a failed one is not in the catalog
    listed = httpx.get(server.url + "/v1/items", params={"limit": 200}).json()["items"]
    status = {it["source"]: it["status"] for it in listed}
    assert status["upload:before.jpg"] == "embedded" and status["upload:notes.jpg"] == "failed"


def _request_kinds(url: str) -> list[tuple[str, httpx.Request]]:
    c = httpx.Client(base_url=url)
    req = c.build_request
    img = jpeg(5)

    def up(**data: Any) -> httpx.Request:
        return req("POST", "/v1/items", files=[("files", ("a.jpg", img, "image/jpeg"))], data=data)

    truncated_body, mp = multipart([("files", b"a.jpg", img)])
    wrong_boundary = {"content-type": "multipart/form-data; boundary=not-the-one"}
    deep: Any = {"a": 1}
    for _ in range(10):
        deep = {"n": deep}
    return [
        ("oversized body", req("POST", "/v1/items", content=b"x" * (LIMIT + 10), headers=mp)),
        ("malformed multipart", req("POST", "/v1/items", content=truncated_body[:-40], headers=mp)),
        ("wrong multipart boundary", req("POST", "/v1/items", content=truncated_body, headers=wrong_boundary)),
        ("upload without files", req("POST", "/v1/items", data={"x": "1"})),
        ("invalid JSON metadata", up(metadata="{not json")),
        ("metadata not an object", up(metadata="[1, 2]")),
        ("metadata too deep", up(metadata=json.dumps(deep))),
        ("metadata too large", up(metadata=json.dumps({"a": "x" * 20_000}))),
        ("misaligned client keys", up(client_keys=["a", "b"])),
        ("client key with control characters", up(client_keys="a\x00\x07b")),
        ("client key too long", up(client_keys="k" * 600)),
        ("too many files", req("POST", "/v1/items", files=[("files", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(101)])),
        ("unknown JSON field", req("POST", "/v1/search", json={"positive_ids": ["a"], "bogus": 1})),
        ("body that is not JSON", req("POST", "/v1/search", content=b"{", headers={"content-type": "application/json"})),
        ("JSON of the wrong type", req("POST", "/v1/search", json=[1, 2, 3])),
        ("wrong content type", req("POST", "/v1/search/image", content=b"hello", headers={"content-type": "text/plain"})),
        ("bad filter syntax", req("GET", "/v1/items", params={"filter": "colour=red"})),
        ("unknown filter operator", req("GET", "/v1/items", params={"filter": '{"price": {"approx": 3}}'})),
        ("k of 0", req("GET", "/v1/items/" + "a" * 64 + "/similar", params={"k": 0})),
        ("negative k", req("POST", "/v1/search", json={"positive_ids": ["a"], "k": -3})),
        ("huge k", req("POST", "/v1/search", json={"positive_ids": ["a"], "k": 10**12})),
        ("k not a number", req("GET", "/v1/items/x/similar", params={"k": "ten"})),
        ("unknown item id", req("GET", "/v1/items/" + "0" * 64)),
        ("malformed id", req("GET", "/v1/items/%00%ff" + "z" * 900)),
        ("path traversal in id", req("GET", "/v1/items/..%2F..%2Fetc%2Fpasswd/image")),
        ("unknown example id", req("POST", "/v1/search", json={"positive_ids": ["nope"]})),
        ("invalid cursor", req("POST", "/v1/search", json={"cursor": "not-a-cursor"})),
        ("unknown job", req("GET", "/v1/jobs/does-not-exist")),
        ("PATCH with unknown field", req("PATCH", "/v1/items/" + "0" * 64, json={"owner": "me"})),
        ("file:// URL ingest", req("POST", "/v1/ingest", json={"items": [{"url": "file:///etc/passwd"}]})),
        ("loopback URL ingest (SSRF)", req("POST", "/v1/ingest", json={"items": [{"url": "http://127.0.0.1:6379/x.jpg"}]})),
        ("private-network URL ingest", req("POST", "/v1/ingest", json={"items": [{"url": "http://10.0.0.8/x.jpg"}]})),
        ("query image bomb", req("POST", "/v1/search/image", files=[("files", ("q.png", png_bomb(), "image/png"))])),
        ("query that is not an image", req("POST", "/v1/search/image", files=[("files", ("q.jpg", b"hello", "image/jpeg"))])),
        ("unsupported method", req("PUT", "/v1/items")),
    ]  # fmt: skip


def test_every_bad_request_gets_a_clear_4xx(server: Server) -> None:
    kinds = _request_kinds(server.url)
    seen = {}
    with httpx.Client(timeout=60) as http:
        for name, request in kinds:
            resp = http.send(request)
            body = resp.json()
            if resp.status_code == 200 and "results" in body:  # refused per item, in a batch
                (result,) = body["results"]
                assert result["status"] == "failed", (name, body)
                sentence = result["error"]
                seen[name] = "item failed"
            else:
                assert 400 <= resp.status_code < 500, (name, resp.status_code, resp.text[:300])
                assert body["error"], (name, body)
                sentence = body["detail"]
                seen[name] = resp.status_code
            assert sentence.endswith(".") and len(sentence) < 300, (name, sentence)
            assert "Traceback" not in sentence, (name, sentence)
    print(f"\n{len(kinds)} bad-request kinds:", json.dumps(seen, indent=1))
    assert len(kinds) + len(bad_files()) >= 30


def test_memory_stays_bounded_under_hostile_input(server: Server) -> None:
    proc = psutil.Process(server.proc.pid)
    _upload_corpus(server.url, 1)  # warm-up: allocators and caches settle
    with httpx.Client(timeout=60) as http:
        for _, request in _request_kinds(server.url):
            http.send(request)
    before = proc.memory_info().rss
    for round_no in range(2, 6):
        _upload_corpus(server.url, round_no)
        with httpx.Client(timeout=60) as http:
            for _, request in _request_kinds(server.url):
                http.send(request)
    growth = (proc.memory_info().rss - before) / 2**20
    print(
        f"\nAPI RSS after warm-up {before / 2**20:.0f} MiB, growth over 4 rounds {growth:.1f} MiB"
    )
    assert growth < 64, f"the API grew by {growth:.0f} MiB while hostile input was sent"


def test_a_non_utf8_client_key_is_kept_as_latin1_and_found_again(server: Server) -> None:
    """The form decoder reads bytes that are not UTF-8 as Latin-1: the item lands and its key
    can be looked up with the same characters; nothing is lost or mangled further."""
    body, headers = multipart([("files", b"k.jpg", jpeg(6)), ("client_keys", None, b"\xff\xfe")])
    resp = httpx.post(server.url + "/v1/items", content=body, headers=headers, timeout=60)
    (result,) = resp.json()["results"]
    assert result["status"] == "added" and result["client_key"] == "\xff\xfe"
    found = httpx.get(server.url + "/v1/items/by-key/%C3%BF%C3%BE").json()
    assert [it["id"] for it in found] == [result["item_id"]]
