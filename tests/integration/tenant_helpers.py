"""Tenants, links and users for the X.1606 integration tests, set up the way
an operator would: a provider admin made with `vigie user create --admin`,
then vigie's admin API (/_vigie/admin/v1: tenants, links, change approval)
and the Synapse admin API (PUT /_synapse/admin/v2/users/{id} with
"io.vigie.tenant", "io.vigie.tenant_admin", "io.vigie.person_id").
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any, Optional

import nio

from conftest import SERVER_NAME

PASSWORD = "correct horse battery"
VIGIE_ADMIN = "/_vigie/admin/v1"
SYNAPSE_ADMIN = "/_synapse/admin"
NIO_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=30)


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


def uid(localpart: str) -> str:
    return f"@{localpart}:{SERVER_NAME}"


def short() -> str:
    return uuid.uuid4().hex[:8]


class Admin:
    """An admin's access token and the admin requests it makes."""

    def __init__(self, server, user_id: str, token: str):
        self.server = server
        self.user_id = user_id
        self.token = token

    def req(self, method: str, path: str, body: Any = None):
        return self.server.request(method, path, body, token=self.token)


def login_admin(server, localpart: str, password: str = PASSWORD) -> Admin:
    r = server.login(localpart, password)
    assert r.status == 200, r
    return Admin(server, r.json["user_id"], r.json["access_token"])


def provider(server) -> Admin:
    """A fresh provider (server) admin."""
    localpart = f"provider-{short()}"
    server.create_user(localpart, PASSWORD, admin=True)
    return login_admin(server, localpart)


def create_tenant(admin: Admin, prefix: str) -> str:
    tenant = f"{prefix}-{short()}"
    r = admin.req("POST", f"{VIGIE_ADMIN}/tenants", {"tenant_id": tenant, "name": tenant.upper()})
    assert r.status == 201, r
    return tenant


def put_user(admin: Admin, localpart: str, tenant: str, password: str = PASSWORD,
             tenant_admin: bool = False, person_id: Optional[str] = None):
    body: dict[str, Any] = {"password": password, "io.vigie.tenant": tenant}
    if tenant_admin:
        body["io.vigie.tenant_admin"] = True
    if person_id:
        body["io.vigie.person_id"] = person_id
    return admin.req("PUT", f"{SYNAPSE_ADMIN}/v2/users/{q(uid(localpart))}", body)


def create_user(admin: Admin, prefix: str, tenant: str, **kw) -> str:
    """Creates a user of `tenant` through the Synapse admin API; returns the
    localpart."""
    localpart = f"{prefix}-{short()}"
    r = put_user(admin, localpart, tenant, **kw)
    assert r.status == 201, r
    assert r.json["io.vigie.tenant"] == tenant, r
    return localpart


def link(provider_admin: Admin, tenant_admins: list[Admin], a: str, b: str) -> None:
    """Links two tenants: the provider proposes (approving for itself), each
    tenant admin approves for its tenant (X-OR-1: a link weakens isolation)."""
    r = provider_admin.req("POST", f"{VIGIE_ADMIN}/links", {"tenants": [a, b]})
    assert r.status == 202, r
    change = r.json["change_id"]
    for admin in tenant_admins:
        r = admin.req("POST", f"{VIGIE_ADMIN}/changes/{change}/approve")
        assert r.status in (200, 202), r
    assert r.json["state"] == "applied", r
    r = provider_admin.req("GET", f"{VIGIE_ADMIN}/links")
    assert {"tenants": sorted([a, b])} in r.json["links"], r


def unlink(provider_admin: Admin, a: str, b: str) -> None:
    """Removing a link only strengthens isolation: it applies at once."""
    r = provider_admin.req("DELETE", f"{VIGIE_ADMIN}/links/{q(a)}/{q(b)}")
    assert r.status == 200, r
    assert r.json["state"] == "applied", r


def audit_entries(admin: Admin, action: str) -> list[dict]:
    out: list[dict] = []
    start = 1
    while True:
        r = admin.req("GET", f"{VIGIE_ADMIN}/audit?from={start}&limit=1000")
        assert r.status == 200, r
        entries = r.json["entries"]
        out += [e for e in entries if e["action"] == action]
        if not entries:
            return out
        start = r.json["next_from"]


@dataclass
class Raw:
    status: int
    json: Any
    body: bytes


async def raw(c: nio.AsyncClient, method: str, path: str, body: Any = None,
              token: bool = True) -> Raw:
    """A request nio 0.20 has no method for, through nio's own transport
    (with ?access_token= as nio sends it)."""
    if token:
        path += ("&" if "?" in path else "?") + f"access_token={c.access_token}"
    data = json.dumps(body) if body is not None else None
    r = await c.send(method, path, data, headers={"Content-Type": "application/json"})
    content = await r.read()
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = None
    return Raw(r.status, parsed, content)


async def nio_login(server, localpart: str, password: str = PASSWORD) -> nio.AsyncClient:
    c = nio.AsyncClient(server.url, user=localpart, config=NIO_CONFIG)
    r = await c.login(password, device_name=f"{localpart} (nio)")
    assert isinstance(r, nio.LoginResponse), r
    return c


def assert_error(resp, errcode: str, status: int) -> None:
    assert isinstance(resp, nio.ErrorResponse), resp
    assert resp.status_code == errcode, resp
    assert resp.transport_response.status == status, resp
