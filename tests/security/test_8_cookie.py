"""Item 8: the page's cookie is set by the server, HttpOnly and SameSite=Strict, and a write
it authorizes must come from the page's own origin."""

from __future__ import annotations

from tests.images import jpeg
from tests.security.conftest import Keyed

FOREIGN = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
SAME = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}


def test_the_server_sets_an_httponly_strict_cookie(keyed: Keyed) -> None:
    client = keyed.client
    auth = keyed.as_("write")
    assert client.post("/session", headers={**auth, **FOREIGN}).status_code == 403
    bad = client.post("/session", headers={"Authorization": "Bearer lk_x_y", **SAME})
    assert bad.status_code == 401
    made = client.post("/session", headers={**auth, **SAME})
    assert made.status_code == 204
    cookie = made.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert client.get("/v1/items").status_code == 200  # the cookie alone authorizes reads
    assert client.delete("/session", headers=SAME).status_code == 204
    assert client.get("/v1/items").status_code == 401


def test_a_cookie_write_from_another_origin_is_refused(keyed: Keyed) -> None:
    client = keyed.client
    client.cookies.set("lookalike_key", keyed.tokens["write"])
    files = [("files", ("a.jpg", jpeg(1), "image/jpeg"))]
    foreign = client.post("/v1/items", files=files, headers=FOREIGN)
    assert foreign.status_code == 403 and foreign.json()["error"] == "cross_origin"
    no_origin = client.post("/v1/items", files=files)  # a cookie and nothing to say whence
    assert no_origin.status_code == 403
    assert client.post("/v1/items", files=files, headers=SAME).status_code == 200
    only_origin = {"Origin": "http://testserver"}  # a browser without Sec-Fetch-Site
    assert client.post("/v1/items", files=files, headers=only_origin).status_code == 200
    # a header key needs no origin: it is no ambient credential
    client.cookies.clear()
    assert client.post("/v1/items", files=files, headers=keyed.as_("write")).status_code == 200
