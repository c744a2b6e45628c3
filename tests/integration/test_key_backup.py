"""Server-side key backups (/room_keys) over HTTP against a live vigie: the
wire shapes of each path depth, the version and etag rules, the errors a
client must be able to tell apart (M_NOT_FOUND, M_WRONG_ROOM_KEYS_VERSION
with current_version, M_MISSING_PARAM), owner isolation, durability across
SIGKILL. Deletion on deactivation is a service test
(src/service/key_backup_service_test.cc). The full client flow (a real
client backing up and restoring Megolm keys) is tests/js/e2e_rust_crypto.
"""

from __future__ import annotations

import pytest

PASSWORD = "correct horse battery"
ALG = "m.megolm_backup.v1.curve25519-aes-sha2"
RK = "/_matrix/client/v3/room_keys"


def key(first: int = 0, forwarded: int = 0, verified: bool = False, text: str = "c") -> dict:
    return {"first_message_index": first, "forwarded_count": forwarded,
            "is_verified": verified,
            "session_data": {"ephemeral": "e", "ciphertext": text, "mac": "m"}}


def new_version(server, token: str, public_key: str = "pk") -> str:
    r = server.request("POST", f"{RK}/version",
                       {"algorithm": ALG, "auth_data": {"public_key": public_key}}, token=token)
    assert r.status == 200, r
    return r.json["version"]


@pytest.fixture
def alice(server, unique):
    return server.register(unique("kb_alice"), PASSWORD)["access_token"]


def test_version_lifecycle(server, alice):
    r = server.request("GET", f"{RK}/version", token=alice)
    assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), r
    v1 = new_version(server, alice, "pk1")
    v2 = new_version(server, alice, "pk2")
    assert int(v2) > int(v1)

    r = server.request("GET", f"{RK}/version", token=alice)
    assert r.status == 200, r
    assert r.json == {"algorithm": ALG, "auth_data": {"public_key": "pk2"}, "count": 0,
                      "etag": r.json["etag"], "version": v2}
    assert isinstance(r.json["etag"], str)
    assert server.request("GET", f"{RK}/version/{v1}", token=alice).json["version"] == v1

    r = server.request("PUT", f"{RK}/version/{v2}",
                       {"algorithm": ALG, "auth_data": {"public_key": "pk2b"}, "version": v2},
                       token=alice)
    assert r.status == 200 and r.json == {}, r
    r = server.request("PUT", f"{RK}/version/{v2}",
                       {"algorithm": ALG, "auth_data": {}, "version": v1}, token=alice)
    assert (r.status, r.json["errcode"]) == (400, "M_INVALID_PARAM"), r
    r = server.request("PUT", f"{RK}/version/{v2}",
                       {"algorithm": "m.other", "auth_data": {}}, token=alice)
    assert (r.status, r.json["errcode"]) == (400, "M_INVALID_PARAM"), r

    assert server.request("DELETE", f"{RK}/version/{v2}", token=alice).status == 200
    assert server.request("DELETE", f"{RK}/version/{v2}", token=alice).status == 200
    r = server.request("DELETE", f"{RK}/version/999", token=alice)
    assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), r
    assert server.request("GET", f"{RK}/version", token=alice).json["version"] == v1
    r = server.request("GET", f"{RK}/version/{v2}", token=alice)
    assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), r


def test_keys_at_each_path_depth(server, alice):
    v = new_version(server, alice)
    q = f"?version={v}"
    room_a, room_b = "!a:test.vigie", "!b:test.vigie"
    r = server.request("PUT", f"{RK}/keys{q}",
                       {"rooms": {room_a: {"sessions": {"s1": key(text="a1")}}}}, token=alice)
    assert r.status == 200 and r.json["count"] == 1, r
    etag1 = r.json["etag"]
    r = server.request("PUT", f"{RK}/keys/{room_a}{q}",
                       {"sessions": {"s2": key(text="a2")}}, token=alice)
    assert r.status == 200 and r.json["count"] == 2 and r.json["etag"] != etag1, r
    r = server.request("PUT", f"{RK}/keys/{room_b}/s1{q}", key(text="b1"), token=alice)
    assert r.status == 200 and r.json["count"] == 3, r

    everything = server.request("GET", f"{RK}/keys{q}", token=alice).json
    assert set(everything["rooms"]) == {room_a, room_b}
    assert everything["rooms"][room_a]["sessions"]["s2"] == key(text="a2")
    room = server.request("GET", f"{RK}/keys/{room_a}{q}", token=alice).json
    assert set(room["sessions"]) == {"s1", "s2"}
    one = server.request("GET", f"{RK}/keys/{room_b}/s1{q}", token=alice)
    assert one.status == 200 and one.json == key(text="b1"), one
    empty = server.request("GET", f"{RK}/keys/!none:test.vigie{q}", token=alice)
    assert empty.status == 200 and empty.json == {"sessions": {}}, empty
    missing = server.request("GET", f"{RK}/keys/{room_b}/nope{q}", token=alice)
    assert (missing.status, missing.json["errcode"]) == (404, "M_NOT_FOUND"), missing

    # A worse copy of a stored key changes nothing; a better one replaces it.
    before = server.request("GET", f"{RK}/version", token=alice).json["etag"]
    r = server.request("PUT", f"{RK}/keys/{room_b}/s1{q}", key(first=3, text="worse"),
                       token=alice)
    assert r.json["etag"] == before, r
    r = server.request("PUT", f"{RK}/keys/{room_b}/s1{q}", key(verified=True, text="better"),
                       token=alice)
    assert r.json["etag"] != before, r
    assert server.request("GET", f"{RK}/keys/{room_b}/s1{q}",
                          token=alice).json["session_data"]["ciphertext"] == "better"

    r = server.request("DELETE", f"{RK}/keys/{room_a}/s1{q}", token=alice)
    assert r.status == 200 and r.json["count"] == 2, r
    r = server.request("DELETE", f"{RK}/keys/{room_a}{q}", token=alice)
    assert r.json["count"] == 1, r
    r = server.request("DELETE", f"{RK}/keys{q}", token=alice)
    assert r.json["count"] == 0, r
    assert server.request("GET", f"{RK}/keys{q}", token=alice).json == {"rooms": {}}


def test_errors_a_client_must_tell_apart(server, alice, unique):
    body = {"rooms": {"!r:test.vigie": {"sessions": {"s": key()}}}}
    r = server.request("PUT", f"{RK}/keys?version=1", body, token=alice)
    assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), r
    old = new_version(server, alice)
    current = new_version(server, alice)
    r = server.request("PUT", f"{RK}/keys?version={old}", body, token=alice)
    assert (r.status, r.json["errcode"]) == (403, "M_WRONG_ROOM_KEYS_VERSION"), r
    assert r.json["current_version"] == current
    r = server.request("PUT", f"{RK}/keys", body, token=alice)
    assert (r.status, r.json["errcode"]) == (400, "M_MISSING_PARAM"), r
    r = server.request("GET", f"{RK}/keys?version=abc", token=alice)
    assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), r
    bad = {"rooms": {"!r:test.vigie": {"sessions": {"s": {**key(), "is_verified": "yes"}}}}}
    r = server.request("PUT", f"{RK}/keys?version={current}", bad, token=alice)
    assert (r.status, r.json["errcode"]) == (400, "M_BAD_JSON"), r
    r = server.request("POST", f"{RK}/version", {"algorithm": "x", "auth_data": {}}, token=alice)
    assert (r.status, r.json["errcode"]) == (400, "M_INVALID_PARAM"), r
    r = server.request("GET", f"{RK}/version")
    assert (r.status, r.json["errcode"]) == (401, "M_MISSING_TOKEN"), r

    # Another user sees none of it.
    bob = server.register(unique("kb_bob"), PASSWORD)["access_token"]
    for path in (f"{RK}/version", f"{RK}/version/{current}", f"{RK}/keys?version={current}"):
        r = server.request("GET", path, token=bob)
        assert (r.status, r.json["errcode"]) == (404, "M_NOT_FOUND"), (path, r)
    server.assert_alive()


def test_acknowledged_keys_survive_sigkill(server_factory, unique):
    server = server_factory()
    token = server.register(unique("kb_durable"), PASSWORD)["access_token"]
    v = new_version(server, token)
    body = {"rooms": {"!r:test.vigie": {"sessions": {f"s{i}": key(text=str(i))
                                                     for i in range(50)}}}}
    r = server.request("PUT", f"{RK}/keys?version={v}", body, token=token)
    assert r.status == 200 and r.json["count"] == 50, r
    server.kill()
    server.start()
    r = server.request("GET", f"{RK}/keys/!r:test.vigie?version={v}", token=token)
    assert r.status == 200 and len(r.json["sessions"]) == 50, r
