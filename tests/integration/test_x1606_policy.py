"""Tenants (C4), the policy engine's change assessment (X-OR-1), trusted
networks (X-AC-3) and the tamper-evident audit log (Appendix I), against a
live server through the admin APIs (docs/admin-api.md)."""
import sqlite3

import pytest

ADMIN = "/_vigie/admin/v1"
PASSWORD = "correct horse battery"


@pytest.fixture
def env(server_factory, unique):
    s = server_factory({"registration": {"mode": "open"}})
    admin = unique("root")
    s.create_user(admin, PASSWORD, admin=True)
    r = s.login(admin, PASSWORD)
    assert r.status == 200, r
    return s, r.json["access_token"], unique


def make_tenant(s, token, tenant_id):
    r = s.request("POST", f"{ADMIN}/tenants", {"tenant_id": tenant_id, "name": tenant_id.upper()},
                  token=token)
    assert r.status == 201, r
    return r.json


def make_user(s, token, localpart, tenant, tenant_admin=False, person=None):
    user_id = f"@{localpart}:{s.config['server']['server_name']}"
    body = {"password": PASSWORD, "io.vigie.tenant": tenant,
            "io.vigie.tenant_admin": tenant_admin}
    if person:
        body["io.vigie.person_id"] = person
    r = s.request("PUT", f"/_synapse/admin/v2/users/{user_id}", body, token=token)
    assert r.status in (200, 201), r
    return user_id


def login_token(s, user_id, source=None):
    r = s.login(user_id, PASSWORD, source=source)
    assert r.status == 200, r
    return r.json["access_token"]


def put_policy(s, token, tenant, doc):
    return s.request("PUT", f"{ADMIN}/tenants/{tenant}/policy", doc, token=token)


def effective(s, token, tenant):
    r = s.request("GET", f"{ADMIN}/tenants/{tenant}/policy", token=token)
    assert r.status == 200, r
    return r.json["effective"]


def audit_actions(s, token):
    r = s.request("GET", f"{ADMIN}/audit?limit=1000", token=token)
    assert r.status == 200, r
    return [e["action"] for e in r.json["entries"]]


def notices_of(s, token):
    """The bodies of the server notices a user has received."""
    r = s.request("GET", "/_matrix/client/v3/sync", token=token)
    assert r.status == 200, r
    bodies = []
    for room in r.json.get("rooms", {}).get("join", {}).values():
        for ev in room["timeline"]["events"]:
            if ev["type"] == "m.room.message" and "io.vigie.notice" in ev["content"]:
                bodies.append(ev["content"])
    return bodies


def test_C4_tenant_admin_api(env):
    s, root, unique = env
    t = unique("cirt")
    make_tenant(s, root, t)
    # Duplicate, malformed and unauthorised creations are refused.
    assert s.request("POST", f"{ADMIN}/tenants", {"tenant_id": t}, token=root).status == 409
    r = s.request("POST", f"{ADMIN}/tenants", {"tenant_id": "Bad Id"}, token=root)
    assert r.status == 400 and r.json["errcode"] == "M_INVALID_PARAM"
    user = make_user(s, root, unique("u"), t)
    user_token = login_token(s, user)
    r = s.request("POST", f"{ADMIN}/tenants", {"tenant_id": unique("x")}, token=user_token)
    assert r.status == 403 and r.json["errcode"] == "M_FORBIDDEN"
    r = s.request("GET", f"{ADMIN}/tenants", token=root)
    assert t in [x["tenant_id"] for x in r.json["tenants"]]
    r = s.request("PUT", f"{ADMIN}/tenants/{t}", {"name": "Renamed CIRT"}, token=root)
    assert r.status == 200 and r.json["name"] == "Renamed CIRT"

    # A tenant admin sees its own tenant only and cannot suspend.
    ta = make_user(s, root, unique("ta"), t, tenant_admin=True)
    ta_token = login_token(s, ta)
    r = s.request("GET", f"{ADMIN}/tenants", token=ta_token)
    assert [x["tenant_id"] for x in r.json["tenants"]] == [t]
    assert s.request("GET", f"{ADMIN}/tenants/default", token=ta_token).status == 403
    assert s.request("PUT", f"{ADMIN}/tenants/{t}", {"suspended": True},
                     token=ta_token).status == 403

    # Suspension cuts the tenant's users off at once, login and tokens alike.
    r = s.request("PUT", f"{ADMIN}/tenants/{t}", {"suspended": True}, token=root)
    assert r.status == 200 and r.json["state"] == "suspended"
    r = s.request("GET", "/_matrix/client/v3/account/whoami", token=user_token)
    assert r.status == 403 and r.json["io.vigie.requirement"] == "C4"
    assert s.login(user, PASSWORD).status == 403
    s.request("PUT", f"{ADMIN}/tenants/{t}", {"suspended": False}, token=root)
    assert s.request("GET", "/_matrix/client/v3/account/whoami", token=user_token).status == 200
    actions = audit_actions(s, root)
    for a in ("tenant.create", "tenant.rename", "tenant.suspend", "tenant.unsuspend"):
        assert a in actions


def test_X_OR_1_strengthening_applies_at_once_weakening_waits(env):
    s, root, unique = env
    t = unique("bank")
    make_tenant(s, root, t)
    ta = make_user(s, root, unique("ta"), t, tenant_admin=True)
    ta_token = login_token(s, ta)
    member = make_user(s, root, unique("m"), t)
    member_token = login_token(s, member)

    # Lowering the device limit only strengthens: it applies at once.
    r = put_policy(s, root, t, {"max_devices": 2})
    assert r.status == 200, r
    assert r.json["state"] == "applied" and r.json["assessment"] == "strengthens"
    assert r.json["policy_version"] == 1
    assert effective(s, root, t)["max_devices"] == 2

    # Raising it weakens: pending until the provider and the tenant admin agree.
    r = put_policy(s, root, t, {"max_devices": 5})
    assert r.status == 202, r
    change = r.json
    assert change["state"] == "pending" and change["assessment"] == "weakens"
    assert change["reasons"]["weakens"] == ["max_devices"]
    assert change["required_approvals"] == ["provider", f"tenant:{t}"]
    assert [a["party"] for a in change["approvals"]] == ["provider"]  # the proposer
    assert effective(s, root, t)["max_devices"] == 2
    r = s.request("GET", f"{ADMIN}/changes?state=pending", token=ta_token)
    assert change["change_id"] in [c["change_id"] for c in r.json["changes"]]

    # The affected users are told.
    notes = notices_of(s, member_token)
    assert any(n["io.vigie.notice"]["kind"] == "policy.change.proposed"
               and n["io.vigie.notice"]["change_id"] == change["change_id"] for n in notes)

    # Approving twice as the provider does not count twice; a plain member cannot.
    r = s.request("POST", f"{ADMIN}/changes/{change['change_id']}/approve", {}, token=root)
    assert r.status == 400 and r.json["errcode"] == "M_BAD_STATE"
    r = s.request("POST", f"{ADMIN}/changes/{change['change_id']}/approve", {}, token=member_token)
    assert r.status in (403, 404)
    r = s.request("POST", f"{ADMIN}/changes/{change['change_id']}/approve", {}, token=ta_token)
    assert r.status == 200 and r.json["state"] == "applied", r
    assert effective(s, root, t)["max_devices"] == 5

    # A tenant admin's weakening needs the provider; refusal ends it.
    r = put_policy(s, ta_token, t, {"max_devices": 5, "anomaly_action": "off"})
    assert r.status == 202 and r.json["required_approvals"] == ["provider", f"tenant:{t}"]
    cid = r.json["change_id"]
    r = s.request("POST", f"{ADMIN}/changes/{cid}/refuse", {"reason": "no"}, token=root)
    assert r.status == 200 and r.json["state"] == "refused"
    assert effective(s, root, t)["anomaly_action"] == "notify"
    r = s.request("POST", f"{ADMIN}/changes/{cid}/approve", {}, token=root)
    assert r.status == 400

    # History, and every step in the audit log.
    r = s.request("GET", f"{ADMIN}/tenants/{t}/policy/history", token=ta_token)
    assert [v["version"] for v in r.json["versions"]] == [2, 1]
    actions = audit_actions(s, root)
    for a in ("policy.change.proposed", "policy.change.approved", "policy.change.applied",
              "policy.change.refused"):
        assert a in actions
    # Tenant admins cannot touch another tenant's policy or the server default.
    assert put_policy(s, ta_token, "default", {"max_devices": 1}).status == 403
    assert s.request("PUT", f"{ADMIN}/policy", {"max_devices": 1}, token=ta_token).status == 403


def test_X_OR_1_bad_policy_documents_are_refused(env):
    s, root, unique = env
    t = unique("reg")
    make_tenant(s, root, t)
    for doc, code in (({"max_device": 3}, "M_INVALID_PARAM"),
                      ({"max_devices": "3"}, "M_BAD_JSON"),
                      ({"trusted_networks": ["10.0.0.0/40"]}, "M_INVALID_PARAM"),
                      ({"anomaly_action": "shout"}, "M_INVALID_PARAM")):
        r = put_policy(s, root, t, doc)
        assert r.status == 400 and r.json["errcode"] == code, (doc, r)
    assert put_policy(s, root, "no-such-tenant", {"max_devices": 1}).status == 404


def test_X_OR_1_linking_tenants_needs_both_tenant_admins(env):
    s, root, unique = env
    a, b = unique("a"), unique("b")
    make_tenant(s, root, a)
    make_tenant(s, root, b)
    ta = login_token(s, make_user(s, root, unique("ta"), a, tenant_admin=True))
    tb = login_token(s, make_user(s, root, unique("tb"), b, tenant_admin=True))
    r = s.request("POST", f"{ADMIN}/links", {"tenants": [a, b]}, token=ta)
    assert r.status == 202, r
    cid = r.json["change_id"]
    assert sorted(r.json["required_approvals"]) == sorted(["provider", f"tenant:{a}",
                                                           f"tenant:{b}"])
    for tok in (root,):
        r = s.request("POST", f"{ADMIN}/changes/{cid}/approve", {}, token=tok)
        assert r.status == 202 and r.json["state"] == "pending"
    r = s.request("GET", f"{ADMIN}/links", token=root)
    assert {"tenants": sorted([a, b])} not in r.json["links"]
    r = s.request("POST", f"{ADMIN}/changes/{cid}/approve", {}, token=tb)
    assert r.status == 200 and r.json["state"] == "applied"
    r = s.request("GET", f"{ADMIN}/links", token=ta)
    assert {"tenants": sorted([a, b])} in r.json["links"]
    # Unlinking only strengthens: immediate.
    r = s.request("DELETE", f"{ADMIN}/links/{b}/{a}", token=tb)
    assert r.status == 200 and r.json["state"] == "applied"
    r = s.request("GET", f"{ADMIN}/links", token=root)
    assert {"tenants": sorted([a, b])} not in r.json["links"]


def test_X_AC_3_trusted_networks_enforced_at_login_and_on_every_request(env):
    s, root, unique = env
    t = unique("vpn")
    make_tenant(s, root, t)
    user = make_user(s, root, unique("u"), t)
    token = login_token(s, user, source="127.0.0.1")
    # From nothing to a list narrows access: applies at once.
    r = put_policy(s, root, t, {"trusted_networks": ["127.5.0.0/16"],
                                "denied_networks": ["127.5.0.66/32"]})
    assert r.status == 200 and r.json["state"] == "applied", r
    r = s.login(user, PASSWORD, source="127.0.0.1")
    assert r.status == 403 and r.json["io.vigie.requirement"] == "X-AC-3", r
    r = s.login(user, PASSWORD, source="127.5.0.66")  # a known relay inside the range
    assert r.status == 403 and r.json["io.vigie.requirement"] == "X-AC-3"
    inside = s.login(user, PASSWORD, source="127.5.0.9")
    assert inside.status == 200, inside
    tok2 = inside.json["access_token"]
    # Every request is checked, not only the login.
    r = s.request("GET", "/_matrix/client/v3/account/whoami", token=token, source="127.0.0.1")
    assert r.status == 403 and r.json["io.vigie.requirement"] == "X-AC-3"
    r = s.request("GET", "/_matrix/client/v3/account/whoami", token=tok2, source="127.5.0.9")
    assert r.status == 200
    r = s.request("GET", "/_matrix/client/v3/account/whoami", token=tok2, source="127.6.0.1")
    assert r.status == 403
    # Other tenants are unaffected.
    other = make_user(s, root, unique("o"), "default")
    assert s.login(other, PASSWORD, source="127.0.0.1").status == 200
    # Widening (removing the list) is a weakening: it waits for approval.
    r = put_policy(s, root, t, {})
    assert r.status == 202 and "trusted_networks" in r.json["reasons"]["weakens"]
    assert s.login(user, PASSWORD, source="127.0.0.1").status == 403


def test_APPX_I_audit_verify_names_the_altered_entry(env):
    s, root, unique = env
    t = unique("aud")
    make_tenant(s, root, t)
    put_policy(s, root, t, {"max_devices": 3})
    r = s.request("GET", f"{ADMIN}/audit/verify", token=root)
    assert r.status == 200 and r.json["ok"] is True and r.json["entries"] >= 3
    r = s.request("GET", f"{ADMIN}/audit?limit=1000", token=root)
    entries = r.json["entries"]
    victim = next(e for e in entries if e["action"] == "tenant.create")
    assert s.cli("audit", "verify").returncode == 0
    s.stop()
    if s.engine != "sqlite":
        pytest.skip("byte-level tampering is done on the SQLite file")
    db = sqlite3.connect(s.data_dir / "vigie.db")
    db.execute("DROP TRIGGER audit_log_no_update")
    # Alter one byte of the entry's details.
    cur = db.execute("UPDATE audit_log SET details = replace(details, '\"name\"', '\"namf\"') "
                     "WHERE seq = ?", (victim["seq"],))
    assert cur.rowcount == 1
    db.commit()
    db.close()
    r = s.cli("audit", "verify", check=False)
    assert r.returncode == 1
    assert f"BROKEN at entry {victim['seq']}" in r.stdout, r.stdout
