"""The Synapse-compatible admin API (docs/admin-api.md) against a live vigie:
every route over raw HTTP, the X.1606 role rules (provider admin, tenant
admin, everyone else), the audit entries the changes leave, and Debian's
`synadm` driving the server as it would drive Synapse.

No API creates tenants yet, so the module adds a second tenant ("acme") by
inserting its row into the server's database while the server is stopped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import urllib.parse
import uuid
from typing import Any, Optional

import pytest

from conftest import SERVER_NAME

PASSWORD = "correct horse battery"
ADMIN = "/_synapse/admin"
V3 = "/_matrix/client/v3"
TENANT = "acme"
SYNADM = "/usr/bin/synadm"


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def uid(localpart: str) -> str:
    return f"@{localpart}:{SERVER_NAME}"


def assert_error(r, status: int, errcode: str) -> None:
    assert r.status == status, r
    assert r.json["errcode"] == errcode, r


def db_query(server, sql: str) -> list[tuple]:
    """Runs one statement on the server's database (SQLite file or
    PostgreSQL); returns the rows as tuples of strings."""
    if server.engine == "postgres":
        out = subprocess.run(["psql", server.pg.uri, "-X", "-q", "-At", "-F", "\t",
                              "-v", "ON_ERROR_STOP=1", "-c", sql],
                             check=True, capture_output=True, text=True, timeout=30).stdout
        return [tuple(line.split("\t")) for line in out.splitlines() if line]
    db = sqlite3.connect(server.data_dir / "vigie.db", timeout=30)
    try:
        rows = db.execute(sql).fetchall()
        db.commit()
    finally:
        db.close()
    return [tuple("" if v is None else str(v) for v in row) for row in rows]


class Client:
    """One access token and the requests it makes."""

    def __init__(self, server, user_id: str, token: str, device_id: str = ""):
        self.server = server
        self.user_id = user_id
        self.token = token
        self.device_id = device_id

    def req(self, method: str, path: str, body: Any = None, **kw):
        return self.server.request(method, path, body, token=self.token, **kw)


def login(server, localpart: str, password: str = PASSWORD,
          user_agent: Optional[str] = None) -> Client:
    body = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": localpart},
            "password": password}
    headers = {"User-Agent": user_agent} if user_agent else None
    r = server.request("POST", f"{V3}/login", body, headers=headers)
    assert r.status == 200, r
    return Client(server, r.json["user_id"], r.json["access_token"], r.json["device_id"])


@pytest.fixture(scope="module")
def root(server):
    """A provider admin (made with `vigie user create --admin`), after the
    second tenant has been added to the database."""
    server.stop()
    db_query(server, "INSERT INTO tenants (tenant_id, name, state, created_ts) "
                     f"VALUES ('{TENANT}', 'Acme Corp', 'active', 0)")
    server.start()
    localpart = f"root-{uuid.uuid4().hex[:8]}"
    server.create_user(localpart, PASSWORD, admin=True)
    return login(server, localpart)


def put_user(caller: Client, user_id: str, **fields):
    return caller.req("PUT", f"{ADMIN}/v2/users/{q(user_id)}", fields)


def make_user(caller: Client, prefix: str, **fields) -> str:
    """Creates a user through the admin API; returns its id."""
    user_id = uid(f"{prefix}-{uuid.uuid4().hex[:8]}")
    r = put_user(caller, user_id, password=PASSWORD, **fields)
    assert r.status == 201, r
    return user_id


def localpart(user_id: str) -> str:
    return user_id[1:].split(":")[0]


def audit_actions(server, actor: str, target: str) -> list[str]:
    rows = db_query(server, "SELECT action FROM audit_log WHERE actor = "
                            f"'{actor}' AND target = '{target}' ORDER BY seq")
    return [r[0] for r in rows]


# --------------------------------------------------------------------------
# Raw HTTP.


def test_server_version_needs_no_token(server):
    r = server.request("GET", f"{ADMIN}/v1/server_version")
    assert r.status == 200, r
    assert r.json["server_version"].startswith("vigie ")


def test_non_admins_are_forbidden(server, root):
    target = make_user(root, "target")
    alice = login(server, localpart(make_user(root, "alice")))
    calls = [
        ("GET", f"{ADMIN}/v2/users", None),
        ("GET", f"{ADMIN}/v2/users/{q(target)}", None),
        ("PUT", f"{ADMIN}/v2/users/{q(target)}", {"displayname": "pwned"}),
        ("PUT", f"{ADMIN}/v2/users/{q(alice.user_id)}", {"admin": True}),
        ("POST", f"{ADMIN}/v1/deactivate/{q(target)}", {"erase": True}),
        ("POST", f"{ADMIN}/v1/reset_password/{q(target)}", {"new_password": "another password"}),
        ("GET", f"{ADMIN}/v2/users/{q(target)}/devices", None),
        ("GET", f"{ADMIN}/v2/users/{q(target)}/devices/X", None),
        ("DELETE", f"{ADMIN}/v2/users/{q(target)}/devices/X", None),
        ("POST", f"{ADMIN}/v2/users/{q(target)}/delete_devices", {"devices": ["X"]}),
        ("GET", f"{ADMIN}/v1/users/{q(target)}/joined_rooms", None),
        ("GET", f"{ADMIN}/v1/whois/{q(target)}", None),
    ]
    for method, path, body in calls:
        r = alice.req(method, path, body)
        assert_error(r, 403, "M_FORBIDDEN")
        assert r.json["error"] == "You are not a server admin", (method, path)
    # Without a token at all: 401.
    assert_error(server.request("GET", f"{ADMIN}/v2/users"), 401, "M_MISSING_TOKEN")
    # A user may look up their own sessions, as on Synapse.
    r = alice.req("GET", f"{ADMIN}/v1/whois/{q(alice.user_id)}")
    assert r.status == 200, r
    assert alice.device_id in r.json["devices"]
    # Nothing changed.
    assert root.req("GET", f"{ADMIN}/v2/users/{q(alice.user_id)}").json["admin"] is False
    assert root.req("GET", f"{ADMIN}/v2/users/{q(target)}").json["deactivated"] is False


def test_list_users_pages_and_filters(server, root):
    tag = uuid.uuid4().hex[:6]
    ids = sorted(make_user(root, f"list{tag}-{i}") for i in range(3))
    named = make_user(root, "other", displayname=f"Person List{tag.upper()}")

    r = root.req("GET", f"{ADMIN}/v2/users?name=list{tag}&limit=2")
    assert r.status == 200, r
    assert r.json["total"] == 4  # three localparts and one display name
    assert [u["name"] for u in r.json["users"]] == ids[:2]
    assert r.json["next_token"] == "2"
    r = root.req("GET", f"{ADMIN}/v2/users?name=list{tag}&limit=2&from=2")
    assert [u["name"] for u in r.json["users"]] == sorted([ids[2], named])
    assert "next_token" not in r.json

    entry = r.json["users"][0]
    for key, value in {"is_guest": False, "admin": False, "user_type": None,
                       "deactivated": False, "locked": False, "avatar_url": None,
                       "io.vigie.tenant": "default"}.items():
        assert entry[key] == value, (key, entry)
    assert isinstance(entry["creation_ts"], int) and entry["creation_ts"] > 0
    assert entry["displayname"]

    # user_id: a substring of the full id.
    r = root.req("GET", f"{ADMIN}/v2/users?user_id={q(ids[1])}")
    assert [u["name"] for u in r.json["users"]] == [ids[1]]

    # Deactivated users are left out unless asked for.
    assert root.req("POST", f"{ADMIN}/v1/deactivate/{q(ids[0])}", {}).status == 200
    r = root.req("GET", f"{ADMIN}/v2/users?name=list{tag}")
    assert ids[0] not in [u["name"] for u in r.json["users"]] and r.json["total"] == 3
    r = root.req("GET", f"{ADMIN}/v2/users?name=list{tag}&deactivated=true&guests=false")
    assert r.json["total"] == 4
    assert [u for u in r.json["users"] if u["name"] == ids[0]][0]["deactivated"] is True

    # The whole server, as the provider admin sees it, includes the admin.
    r = root.req("GET", f"{ADMIN}/v2/users?limit=1000")
    assert root.user_id in [u["name"] for u in r.json["users"]]

    for bad in ("limit=0", "limit=1001", "limit=ten", "from=-1", "deactivated=yes"):
        assert_error(root.req("GET", f"{ADMIN}/v2/users?{bad}"), 400, "M_INVALID_PARAM")


def test_get_user_details(server, root):
    user_id = make_user(root, "details", displayname="Dee Tails")
    login(server, localpart(user_id))
    r = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}")
    assert r.status == 200, r
    u = r.json
    assert u["name"] == user_id
    assert u["displayname"] == "Dee Tails"
    assert u["admin"] is False and u["deactivated"] is False
    assert u["threepids"] == [] and u["external_ids"] == []
    assert u["io.vigie.tenant"] == "default"
    assert u["io.vigie.tenant_admin"] is False
    assert u["io.vigie.person_id"] is None
    assert u["io.vigie.devices"] == 1
    assert u["creation_ts"] > 0
    # The path parameter may come unescaped, as synadm sends it.
    assert root.req("GET", f"{ADMIN}/v2/users/{user_id}").json["name"] == user_id

    assert_error(root.req("GET", f"{ADMIN}/v2/users/{q(uid('nobody-' + uuid.uuid4().hex))}"),
                 404, "M_NOT_FOUND")
    for bad in ("@someone:other.example", "someone", "@:" + SERVER_NAME):
        assert_error(root.req("GET", f"{ADMIN}/v2/users/{q(bad)}"), 400, "M_INVALID_PARAM")
    assert_error(put_user(root, "@x:other.example", password=PASSWORD), 400, "M_INVALID_PARAM")


def test_put_creates_then_modifies(server, root):
    user_id = uid(f"put-{uuid.uuid4().hex[:8]}")
    r = put_user(root, user_id, password=PASSWORD, displayname="Put Me")
    assert r.status == 201, r
    assert r.json["name"] == user_id and r.json["displayname"] == "Put Me"
    first = login(server, localpart(user_id))

    r = put_user(root, user_id, displayname="Renamed", avatar_url="mxc://x/y")
    assert r.status == 200, r
    assert r.json["displayname"] == "Renamed" and r.json["avatar_url"] == "mxc://x/y"
    r = first.req("GET", f"{V3}/profile/{q(user_id)}/displayname")
    assert r.json["displayname"] == "Renamed"

    # admin: the user can now use the admin API.
    assert first.req("GET", f"{ADMIN}/v2/users").status == 403
    assert put_user(root, user_id, admin=True).json["admin"] is True
    assert first.req("GET", f"{ADMIN}/v2/users").status == 200
    assert put_user(root, user_id, admin=False).json["admin"] is False
    assert first.req("GET", f"{ADMIN}/v2/users").status == 403

    # A new password logs every device out unless asked not to.
    r = put_user(root, user_id, password="second password", logout_devices=False)
    assert r.status == 200, r
    assert first.req("GET", f"{V3}/account/whoami").status == 200
    r = put_user(root, user_id, password="third password")
    assert r.status == 200 and r.json["io.vigie.devices"] == 0, r
    assert_error(first.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    assert server.login(localpart(user_id), PASSWORD).status == 403
    second = login(server, localpart(user_id), "third password")

    # Deactivation through PUT, and back (which needs a password).
    r = put_user(root, user_id, deactivated=True)
    assert r.status == 200 and r.json["deactivated"] is True, r
    assert_error(second.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    assert_error(server.login(localpart(user_id), "third password"), 403, "M_USER_DEACTIVATED")
    assert_error(put_user(root, user_id, deactivated=False), 400, "M_MISSING_PARAM")
    r = put_user(root, user_id, deactivated=False, password="fourth password")
    assert r.status == 200 and r.json["deactivated"] is False, r
    login(server, localpart(user_id), "fourth password")

    # vigie's fields.
    r = put_user(root, user_id, **{"io.vigie.person_id": "person-1"})
    assert r.json["io.vigie.person_id"] == "person-1"
    r = put_user(root, user_id, **{"io.vigie.person_id": None})
    assert r.json["io.vigie.person_id"] is None
    assert_error(put_user(root, user_id, **{"io.vigie.tenant": "no-such-tenant"}),
                 400, "M_INVALID_PARAM")

    # What vigie cannot do is refused, not ignored.
    assert_error(put_user(root, user_id, threepids=[{"medium": "email", "address": "a@b.c"}]),
                 400, "M_INVALID_PARAM")
    assert_error(put_user(root, user_id, password="short"), 400, "M_WEAK_PASSWORD")
    assert_error(put_user(root, user_id, admin="yes"), 400, "M_BAD_JSON")
    assert_error(put_user(root, uid("Upper-Case"), password=PASSWORD), 400, "M_INVALID_USERNAME")

    actions = audit_actions(server, root.user_id, user_id)
    assert actions[0] == "admin.user.create"
    assert actions.count("admin.user.modify") >= 8


def test_devices(server, root):
    user_id = make_user(root, "dev")
    phone = login(server, localpart(user_id), user_agent="PhoneApp/1.0")
    laptop = login(server, localpart(user_id), user_agent="LaptopApp/2.0")
    third = login(server, localpart(user_id))

    r = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}/devices")
    assert r.status == 200, r
    assert r.json["total"] == 3
    devices = {d["device_id"]: d for d in r.json["devices"]}
    assert set(devices) == {phone.device_id, laptop.device_id, third.device_id}
    d = devices[phone.device_id]
    assert d["user_id"] == user_id
    assert d["last_seen_ip"] == "127.0.0.1"
    assert d["last_seen_user_agent"] == "PhoneApp/1.0"
    assert isinstance(d["last_seen_ts"], int)
    assert "display_name" in d

    r = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}/devices/{q(laptop.device_id)}")
    assert r.status == 200 and r.json["last_seen_user_agent"] == "LaptopApp/2.0", r
    assert_error(root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}/devices/NOPE"),
                 404, "M_NOT_FOUND")

    # Deleting a device revokes its token and is a device-list change that
    # users sharing a room see.
    bob = login(server, localpart(make_user(root, "bob")))
    r = bob.req("POST", f"{V3}/createRoom", {"invite": [user_id]})
    assert r.status == 200, r
    room_id = r.json["room_id"]
    assert phone.req("POST", f"{V3}/join/{q(room_id)}", {}).status == 200
    since = bob.req("GET", f"{V3}/sync?timeout=0").json["next_batch"]

    r = root.req("DELETE", f"{ADMIN}/v2/users/{q(user_id)}/devices/{q(laptop.device_id)}")
    assert r.status == 200 and r.json == {}, r
    assert_error(laptop.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    assert phone.req("GET", f"{V3}/account/whoami").status == 200
    assert_error(root.req("DELETE", f"{ADMIN}/v2/users/{q(user_id)}/devices/{q(laptop.device_id)}"),
                 404, "M_NOT_FOUND")
    r = bob.req("GET", f"{V3}/sync?timeout=0&since={q(since)}")
    assert user_id in r.json["device_lists"]["changed"], r

    # delete_devices ignores ids the user does not have.
    r = root.req("POST", f"{ADMIN}/v2/users/{q(user_id)}/delete_devices",
                 {"devices": [third.device_id, "UNKNOWN"]})
    assert r.status == 200 and r.json == {}, r
    assert_error(third.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    r = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}/devices")
    assert [d["device_id"] for d in r.json["devices"]] == [phone.device_id]

    # (The server-notices room may be there too.)
    r = root.req("GET", f"{ADMIN}/v1/users/{q(user_id)}/joined_rooms")
    assert r.status == 200 and room_id in r.json["joined_rooms"], r
    assert r.json["total"] == len(r.json["joined_rooms"])

    assert audit_actions(server, root.user_id, user_id).count("admin.device.delete") == 2


def test_whois(server, root):
    user_id = make_user(root, "whois")
    c = login(server, localpart(user_id), user_agent="WhoisAgent/3")
    r = root.req("GET", f"{ADMIN}/v1/whois/{q(user_id)}")
    assert r.status == 200, r
    assert r.json["user_id"] == user_id
    sessions = r.json["devices"][c.device_id]["sessions"]
    conn = sessions[0]["connections"][0]
    assert conn["ip"] == "127.0.0.1"
    assert conn["user_agent"] == "WhoisAgent/3"
    assert isinstance(conn["last_seen"], int) and conn["last_seen"] > 0
    assert_error(root.req("GET", f"{ADMIN}/v1/whois/{q('@x:elsewhere.example')}"),
                 400, "M_INVALID_PARAM")


def test_deactivate_with_erase(server, root):
    user_id = make_user(root, "gone", displayname="Soon Gone", avatar_url="mxc://a/b")
    c = login(server, localpart(user_id))
    r = root.req("POST", f"{ADMIN}/v1/deactivate/{q(user_id)}", {"erase": True})
    assert r.status == 200 and r.json == {"id_server_unbind_result": "success"}, r
    assert_error(c.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    assert_error(server.login(localpart(user_id), PASSWORD), 403, "M_USER_DEACTIVATED")
    u = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}").json
    assert u["deactivated"] is True
    assert u["displayname"] is None and u["avatar_url"] is None
    assert u["io.vigie.devices"] == 0
    # Idempotent; unknown users are 404.
    assert root.req("POST", f"{ADMIN}/v1/deactivate/{q(user_id)}", {}).status == 200
    assert_error(root.req("POST", f"{ADMIN}/v1/deactivate/{q(uid('nobody-x1'))}", {}),
                 404, "M_NOT_FOUND")
    assert audit_actions(server, root.user_id, user_id)[-2:] == ["admin.user.deactivate"] * 2


def test_reset_password(server, root):
    user_id = make_user(root, "reset")
    c = login(server, localpart(user_id))
    r = root.req("POST", f"{ADMIN}/v1/reset_password/{q(user_id)}",
                 {"new_password": "brand new password"})
    assert r.status == 200 and r.json == {}, r
    assert_error(c.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")
    login(server, localpart(user_id), "brand new password")


def test_tenant_admin_sees_and_manages_only_its_tenant(server, root):
    outsider = make_user(root, "outsider")
    insider = make_user(root, "insider", **{"io.vigie.tenant": TENANT})
    boss = make_user(root, "boss", **{"io.vigie.tenant": TENANT, "io.vigie.tenant_admin": True})
    # A provider admin who happens to belong to the tenant.
    provider = make_user(root, "provider", admin=True, **{"io.vigie.tenant": TENANT})
    login(server, localpart(insider))
    ta = login(server, localpart(boss))

    # Listing: its tenant only, total included.
    r = ta.req("GET", f"{ADMIN}/v2/users?limit=1000&deactivated=true")
    assert r.status == 200, r
    names = [u["name"] for u in r.json["users"]]
    assert {insider, boss, provider} <= set(names)
    assert outsider not in names and root.user_id not in names
    assert all(u["io.vigie.tenant"] == TENANT for u in r.json["users"])
    assert r.json["total"] == len(names)

    # Users of other tenants are as if absent.
    for method, path, body in [
        ("GET", f"{ADMIN}/v2/users/{q(outsider)}", None),
        ("POST", f"{ADMIN}/v1/deactivate/{q(outsider)}", {}),
        ("POST", f"{ADMIN}/v1/reset_password/{q(outsider)}", {"new_password": "another password"}),
        ("GET", f"{ADMIN}/v2/users/{q(outsider)}/devices", None),
        ("DELETE", f"{ADMIN}/v2/users/{q(outsider)}/devices/X", None),
        ("POST", f"{ADMIN}/v2/users/{q(outsider)}/delete_devices", {"devices": ["X"]}),
        ("GET", f"{ADMIN}/v1/users/{q(outsider)}/joined_rooms", None),
        ("GET", f"{ADMIN}/v1/whois/{q(outsider)}", None),
    ]:
        assert_error(ta.req(method, path, body), 404, "M_NOT_FOUND")
    # Its id is taken, though: it cannot be created in the tenant.
    assert_error(put_user(ta, outsider, displayname="mine"), 400, "M_USER_IN_USE")
    assert root.req("GET", f"{ADMIN}/v2/users/{q(outsider)}").json["displayname"] != "mine"

    # Its own users: full view and management.
    r = ta.req("GET", f"{ADMIN}/v2/users/{q(insider)}")
    assert r.status == 200 and r.json["io.vigie.tenant"] == TENANT, r
    assert ta.req("GET", f"{ADMIN}/v2/users/{q(insider)}/devices").json["total"] == 1
    r = put_user(ta, insider, displayname="Renamed by boss", **{"io.vigie.tenant_admin": True})
    assert r.status == 200 and r.json["io.vigie.tenant_admin"] is True, r
    assert put_user(ta, insider, **{"io.vigie.tenant_admin": False}).status == 200
    # New users land in its tenant.
    new = uid(f"new-{uuid.uuid4().hex[:8]}")
    r = put_user(ta, new, password=PASSWORD)
    assert r.status == 201 and r.json["io.vigie.tenant"] == TENANT, r
    # Restating the current values is fine; changing them is not.
    assert put_user(ta, insider, admin=False, **{"io.vigie.tenant": TENANT}).status == 200
    assert_error(put_user(ta, insider, admin=True), 403, "M_FORBIDDEN")
    assert_error(put_user(ta, insider, **{"io.vigie.tenant": "default"}), 403, "M_FORBIDDEN")
    assert_error(put_user(ta, insider, **{"io.vigie.person_id": "p"}), 403, "M_FORBIDDEN")
    assert_error(put_user(ta, uid(f"n2-{uuid.uuid4().hex[:8]}"), password=PASSWORD, admin=True),
                 403, "M_FORBIDDEN")
    # A provider admin in the tenant: visible, not manageable.
    assert ta.req("GET", f"{ADMIN}/v2/users/{q(provider)}").status == 200
    assert_error(put_user(ta, provider, password="taken over!"), 403, "M_FORBIDDEN")
    assert_error(ta.req("POST", f"{ADMIN}/v1/deactivate/{q(provider)}", {}), 403, "M_FORBIDDEN")
    assert root.req("GET", f"{ADMIN}/v2/users/{q(provider)}").json["deactivated"] is False

    r = ta.req("POST", f"{ADMIN}/v1/deactivate/{q(insider)}", {})
    assert r.status == 200, r
    # Audit entries name the tenant admin as the actor.
    assert "admin.user.deactivate" in audit_actions(server, ta.user_id, insider)
    rows = db_query(server, "SELECT tenant_id FROM audit_log WHERE actor = "
                            f"'{ta.user_id}' AND action = 'admin.user.create'")
    assert rows == [(TENANT,)]

    # Demoted, it is nobody's admin any more.
    assert put_user(root, boss, **{"io.vigie.tenant_admin": False}).status == 200
    assert_error(ta.req("GET", f"{ADMIN}/v2/users"), 403, "M_FORBIDDEN")


def test_moving_a_user_between_tenants(server, root):
    user_id = make_user(root, "mover")
    r = put_user(root, user_id, **{"io.vigie.tenant": TENANT})
    assert r.status == 200 and r.json["io.vigie.tenant"] == TENANT, r
    r = root.req("GET", f"{ADMIN}/v2/users?user_id={q(user_id)}")
    assert r.json["users"][0]["io.vigie.tenant"] == TENANT


# --------------------------------------------------------------------------
# synadm.


def synadm(server, admin: Client, tmp_path, *args: str, quiet: bool = True) -> str:
    """Runs `synadm --batch -o json -c CFG ARGS` against the server; returns stdout.
    With `quiet`, synadm must not have logged a warning (such as a non-2xx
    answer)."""
    cfg = tmp_path / "synadm.yaml"
    # Every value must be non-empty: synadm treats a falsy entry as missing.
    cfg.write_text(json.dumps({
        "user": admin.user_id,
        "token": admin.token,
        "base_url": server.url,
        "admin_path": "/_synapse/admin",
        "matrix_path": "/_matrix",
        "timeout": 30,
        "server_discovery": "well-known",
        "homeserver": SERVER_NAME,
        "format": "json",
    }))  # JSON is YAML
    env = dict(os.environ, HOME=str(tmp_path))  # synadm writes its debug log under ~
    r = subprocess.run([SYNADM, "--batch", "-o", "json", "-c", str(cfg), *args],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, f"synadm {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "ERROR" not in r.stderr, r.stderr
    if quiet:
        assert "WARNING" not in r.stderr, r.stderr
    return r.stdout


@pytest.mark.skipif(not os.access(SYNADM, os.X_OK), reason="synadm is not installed")
def test_synadm_lists_users_and_devices(server, root, tmp_path):
    tag = uuid.uuid4().hex[:6]
    user_id = make_user(root, f"syn{tag}", displayname=f"Syn {tag}")
    c = login(server, localpart(user_id), user_agent="SynadmTarget/1")

    out = json.loads(synadm(server, root, tmp_path, "version"))
    assert out["server_version"].startswith("vigie ")

    out = json.loads(synadm(server, root, tmp_path, "user", "list", "-n", f"syn{tag}"))
    assert [u["name"] for u in out["users"]] == [user_id] and out["total"] == 1
    out = json.loads(synadm(server, root, tmp_path, "user", "list", "-l", "1000"))
    assert user_id in [u["name"] for u in out["users"]]

    out = json.loads(synadm(server, root, tmp_path, "user", "details", user_id))
    assert out["name"] == user_id and out["displayname"] == f"Syn {tag}"

    out = json.loads(synadm(server, root, tmp_path, "user", "whois", user_id))
    assert out["user_id"] == user_id
    conn = out["devices"][c.device_id]["sessions"][0]["connections"][0]
    assert conn["user_agent"] == "SynadmTarget/1"

    # synadm's device listing is prune-devices' dry run, which lists devices
    # not seen for --min-days: make one look a year old.
    old = login(server, localpart(user_id))
    db_query(server, "UPDATE devices SET last_seen_ts = 1000 WHERE user_id = "
                     f"'{user_id}' AND device_id = '{old.device_id}'")
    out = json.loads(synadm(server, root, tmp_path, "user", "prune-devices", user_id,
                            "--list-only", "-d", "90", "-s", "0", "--timestamp"))
    assert [(d["device_id"], d["last_seen_ts"]) for d in out] == [(old.device_id, 1000)]
    assert old.req("GET", f"{V3}/account/whoami").status == 200  # only listed
    assert c.req("GET", f"{V3}/account/whoami").status == 200


@pytest.mark.skipif(not os.access(SYNADM, os.X_OK), reason="synadm is not installed")
def test_synadm_modifies_prunes_and_deactivates(server, root, tmp_path):
    user_id = uid(f"synmod-{uuid.uuid4().hex[:8]}")
    # It shows the user's current settings first: a 404 for a new user.
    synadm(server, root, tmp_path, "user", "modify", user_id, "-P", PASSWORD,
           "-n", "Made By Synadm", quiet=False)
    u = root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}").json
    assert u["displayname"] == "Made By Synadm"
    c = login(server, localpart(user_id))

    synadm(server, root, tmp_path, "user", "prune-devices", user_id, "-d", "0", "-s", "0",
           "-i", c.device_id)
    assert_error(c.req("GET", f"{V3}/account/whoami"), 401, "M_UNKNOWN_TOKEN")

    synadm(server, root, tmp_path, "user", "password", user_id, "-p", "synadm password")
    login(server, localpart(user_id), "synadm password")

    synadm(server, root, tmp_path, "user", "deactivate", user_id)
    assert root.req("GET", f"{ADMIN}/v2/users/{q(user_id)}").json["deactivated"] is True


@pytest.mark.skipif(not os.access(SYNADM, os.X_OK), reason="synadm is not installed")
def test_synadm_deletes_media(server, root, tmp_path):
    c = login(server, localpart(make_user(root, "synmedia")))
    r = server.request("POST", "/_matrix/media/v3/upload", body=b"to be deleted", token=c.token,
                       headers={"Content-Type": "text/plain"})
    assert r.status == 200, r
    media_id = r.json["content_uri"].rsplit("/", 1)[1]
    out = json.loads(synadm(server, root, tmp_path, "media", "delete", "-i", media_id))
    assert out == {"deleted_media": [media_id], "total": 1}
    r = c.req("GET", f"/_matrix/client/v1/media/download/{SERVER_NAME}/{media_id}")
    assert_error(r, 404, "M_NOT_FOUND")
    assert audit_actions(server, root.user_id, f"mxc://{SERVER_NAME}/{media_id}") == [
        "admin.media.delete"]
