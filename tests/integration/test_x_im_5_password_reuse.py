"""X-IM-5 against a live vigie: a person (io.vigie.person_id) with an account
in each of two tenants changes one account's password (POST
/account/password with user-interactive authentication, from a matrix-nio
client) to the other account's password. The change succeeds, the answer
carries "io.vigie.warning", a server notice reaches the user and the audit
log has a "password.reuse" entry without password material. A different
password gives none of these.
"""

from __future__ import annotations

import asyncio

import nio

from tenant_helpers import (audit_entries, create_tenant, create_user, nio_login, provider, put_user, raw,
                            short)

V3 = "/_matrix/client/v3"
SHARED = "the same password everywhere"
OTHER = "a password of its own"


async def change_password(c: nio.AsyncClient, old: str, new: str):
    """POST /account/password through its m.login.password UIA stage."""
    body = {"new_password": new, "logout_devices": False}
    r = await raw(c, "POST", f"{V3}/account/password", body)
    assert r.status == 401, r
    body["auth"] = {"type": "m.login.password", "session": r.json["session"],
                    "identifier": {"type": "m.id.user", "user": c.user_id}, "password": old}
    return await raw(c, "POST", f"{V3}/account/password", body)


async def notices(c: nio.AsyncClient, kind: str, timeout: float = 10) -> list[dict]:
    """The server notices of `kind` the user's /sync has delivered so far."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: list[dict] = []
    while not found and loop.time() < deadline:
        r = await c.sync(timeout=500, full_state=True)
        assert isinstance(r, nio.SyncResponse), r
        for room in r.rooms.join.values():
            for e in room.timeline.events:
                notice = e.source.get("content", {}).get("io.vigie.notice")
                if notice and notice.get("kind") == kind:
                    found.append(e.source["content"])
    return found


def two_tenants_one_person(server, password_a: str, password_b: str):
    root = provider(server)
    a = create_tenant(root, "a")
    b = create_tenant(root, "b")
    person = f"person-{short()}"
    ann_a = create_user(root, "ann-a", a, password=password_a, person_id=person)
    ann_b = create_user(root, "ann-b", b, password=password_b, person_id=person)
    return root, ann_a, ann_b


async def test_X_IM_5_warns_on_reuse_across_tenants(server):
    root, _, ann_b = two_tenants_one_person(server, SHARED, OTHER)
    c = await nio_login(server, ann_b, OTHER)
    try:
        r = await change_password(c, OTHER, SHARED)
        assert r.status == 200, r  # a warning, not a refusal
        warning = r.json["io.vigie.warning"]
        assert warning["requirement"] == "X-IM-5"
        assert warning["message"]
        # The user is told in their server notices room too.
        found = await notices(c, "password.reuse")
        assert found, "no password.reuse server notice"
        assert found[0]["io.vigie.notice"]["requirement"] == "X-IM-5"
        assert found[0]["msgtype"] == "m.notice"
        # The new password is the one that works now.
        assert server.login(ann_b, SHARED).status == 200
    finally:
        await c.close()
    entries = [e for e in audit_entries(root, "password.reuse") if e["target"] == c.user_id]
    assert len(entries) == 1, entries
    assert entries[0]["details"]["requirement"] == "X-IM-5"
    text = str(entries[0])
    assert SHARED not in text and OTHER not in text and "$argon2" not in text


async def test_X_IM_5_no_warning_for_different_password(server):
    root, _, ann_b = two_tenants_one_person(server, SHARED, OTHER)
    c = await nio_login(server, ann_b, OTHER)
    try:
        r = await change_password(c, OTHER, "yet another password")
        assert r.status == 200, r
        assert r.json == {}, r
        assert not await notices(c, "password.reuse", timeout=2)
    finally:
        await c.close()
    assert not [e for e in audit_entries(root, "password.reuse") if e["target"] == c.user_id]


def test_X_IM_5_admin_creation_warns_on_reuse(server):
    """The path operators use: creating the person's second account through
    the Synapse admin API with the first account's password."""
    root = provider(server)
    a = create_tenant(root, "a")
    b = create_tenant(root, "b")
    person = f"person-{short()}"
    create_user(root, "bob-a", a, password=SHARED, person_id=person)
    r = put_user(root, f"bob-b-{short()}", b, password=SHARED, person_id=person)
    assert r.status == 201, r
    assert r.json["io.vigie.warning"]["requirement"] == "X-IM-5", r
    r = put_user(root, f"bob-c-{short()}", b, password=OTHER, person_id=person)
    assert r.status == 201 and "io.vigie.warning" not in r.json, r
