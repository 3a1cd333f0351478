"""What the OpenAPI document promises, the server does: the fixes the contract run
(`lookalike bench contract`, schemathesis --checks all) asked for, each pinned here."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.keys import KeyRing
from engine import Engine
from tests.api.helpers import upload
from tests.images import jpeg


def _schema(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def test_a_405_allows_every_method_of_the_path(client: TestClient) -> None:
    item = upload(client, 1)["results"][0]["item_id"]
    answer = client.options(f"/v1/items/{item}")
    assert answer.status_code == 405
    assert {"GET", "PATCH", "DELETE"} <= set(answer.headers["allow"].split(", "))
    assert client.request("PUT", "/session").headers["allow"] == "DELETE, POST"


def test_a_body_that_is_not_utf8_json_is_a_422_with_a_sentence(client: TestClient) -> None:
    answer = client.post(
        "/v1/search", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "invalid_request",
        "detail": "The request body is not valid UTF-8 JSON.",
    }


def test_a_broken_multipart_form_is_a_422_with_a_sentence(client: TestClient) -> None:
    boundary = "7c5156fb04a2177cf9e322ad31ebde44"
    answer = client.post(
        "/v1/items",
        content=f"--{boundary}\r\nNone--{boundary}--\r\n".encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith("The multipart form could not be parsed")


def test_an_empty_key_header_beside_a_good_one_is_refused(engine: Engine) -> None:
    from api.app import create_app
    from api.settings import ApiSettings

    _, token = KeyRing(engine.store).create(["admin"])
    with TestClient(create_app(engine, ApiSettings(auth_failures_per_s=0))) as c:
        good = {"Authorization": f"Bearer {token}"}
        assert c.get("/v1/keys", headers=good).status_code == 200
        for extra in ({"X-API-Key": ""}, {"X-API-Key": "  "}):
            answer = c.get("/v1/keys", headers={**good, **extra})
            assert answer.status_code == 401, extra
            assert "present but empty" in answer.json()["detail"]
        answer = c.get("/v1/keys", headers={"Authorization": "Bearer ", "X-API-Key": token})
        assert answer.status_code == 401


def test_forms_are_held_to_their_schema(client: TestClient) -> None:
    files = [("files", ("a.jpg", jpeg(2), "image/jpeg"))]
    misspelt = client.post("/v1/items", files=files, data={"metdata": "{}"})
    assert misspelt.status_code == 422 and "'metdata'" in misspelt.json()["detail"]
    for guessed in ("1", "yes", "on"):
        answer = client.post("/v1/search/image", files=files, data={"collapse": guessed})
        assert answer.status_code == 422, guessed
    assert client.post("/v1/search/image", files=files, data={"collapse": "true"}).is_success


def test_json_numbers_and_booleans_are_not_coerced_from_text(client: TestClient) -> None:
    item = upload(client, 3)["results"][0]["item_id"]
    for bad in ({"k": "5"}, {"collapse": 0}, {"min_score": "0.5"}, {"expand": True}):
        answer = client.post("/v1/search", json={"positive_ids": [item], **bad})
        assert answer.status_code == 422, bad
    assert client.post("/v1/search", json={"positive_ids": [item], "k": 5.0}).is_success


def test_the_document_says_what_each_field_takes(client: TestClient) -> None:
    schema = _schema(client)
    listing = {p["name"]: p for p in schema["paths"]["/v1/items"]["get"]["parameters"]}
    assert "application/json" in listing["filter"]["content"]
    assert listing["status"]["schema"]["enum"] == ["embedded", "failed", "queued"]
    assert listing["cursor"]["schema"]["format"] == "lookalike-items-cursor"
    similar = {
        p["name"]: p for p in schema["paths"]["/v1/items/{item_id}/similar"]["get"]["parameters"]
    }
    assert similar["k"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 50}
    components = schema["components"]["schemas"]
    body = next(v for k, v in components.items() if k.startswith("Body_upload"))
    assert body["properties"]["files"]["minItems"] == 1
    assert body["additionalProperties"] is False
    url = components["UrlItem"]["properties"]["url"]["pattern"]
    assert url.startswith("^[Hh][Tt][Tt][Pp]")
    for path, methods in schema["paths"].items():
        for method, op in methods.items():
            assert "400" in op["responses"], (method, path)


def test_a_cursor_does_not_excuse_the_rest_of_the_body(client: TestClient) -> None:
    item = upload(client, 4, 5)["results"][0]["item_id"]
    page = client.post("/v1/search", json={"positive_ids": [item], "k": 1}).json()
    cursor = page["next_cursor"]
    assert cursor
    assert client.post("/v1/search", json={"cursor": cursor}).status_code == 200
    for bad in ({"k": 10_000}, {"filter": {"a": {"nope": 1}}}):
        answer = client.post("/v1/search", json={"cursor": cursor, **bad})
        assert answer.status_code == 422, bad


def test_a_url_of_the_schema_s_form_only(client: TestClient) -> None:
    for url in ("http://a b/x.jpg", "http://user@host/x.jpg", "", "http://[::1]/x.jpg"):
        answer = client.post("/v1/ingest", json={"items": [{"url": url}]})
        assert answer.status_code == 422, url
        assert answer.json()["error"] == "bad_url"
