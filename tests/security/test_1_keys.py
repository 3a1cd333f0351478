"""Item 1: once any key has existed, access control stays on; the last admin key stays."""

from __future__ import annotations

from tests.security.conftest import Keyed


def test_revoking_the_last_admin_key_is_refused_and_access_stays_on(keyed: Keyed) -> None:
    client, admin = keyed.client, keyed.as_("admin")
    last = client.delete(f"/v1/keys/{keyed.ids['admin']}", headers=admin)
    assert last.status_code == 409, last.text
    assert last.json()["error"] == "last_admin_key"
    assert last.json()["detail"].count(".") == 1  # one sentence
    # with a second admin key, the first may go
    second = client.post("/v1/keys", json={"scopes": ["admin"]}, headers=admin).json()
    assert client.delete(f"/v1/keys/{keyed.ids['admin']}", headers=admin).status_code == 200
    new_admin = {"Authorization": f"Bearer {second['token']}"}
    for scope in ("read", "write"):
        assert client.delete(f"/v1/keys/{keyed.ids[scope]}", headers=new_admin).status_code == 200
    assert client.delete(f"/v1/keys/{second['key_id']}", headers=new_admin).status_code == 409


def test_a_store_whose_keys_are_all_revoked_still_needs_a_key(keyed: Keyed) -> None:
    """Revoked by hand in the store (what no route allows): the API locks, it never opens."""
    for key_id in keyed.ids.values():
        keyed.ring.store.revoke_key(key_id)
    keyed.ring.reload()
    client = keyed.client
    assert client.get("/v1/keys").status_code == 401
    assert client.post("/v1/keys", json={"scopes": ["admin"]}).status_code == 401
    assert client.get("/v1/items", headers=keyed.as_("admin")).status_code == 401
