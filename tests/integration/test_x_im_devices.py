"""X.1606 device controls (X-IM-1 to X-IM-4) against a live vigie.

Each test makes its own tenant (vigie's admin API) and user (Synapse admin
API), and sets the tenant's policy with PUT
/_vigie/admin/v1/tenants/{tenant}/policy: a change that only strengthens
applies at once; one that weakens (evict_oldest) is approved by the
tenant's admin too (X-OR-1). The user's devices are matrix-nio clients
(logins, /sync, key upload); the io.vigie device endpoints, which nio does
not know, go through nio's transport or raw HTTP.

  X-IM-1  max_devices refuses a login past the limit, or evicts the oldest
          non-primary device.
  X-IM-2  the first device is the primary; with require_primary_approval a
          new device is pending (403 on everything but whoami, logout and
          its own state) until the primary approves or denies it.
  X-IM-3  a new device wakes the primary's long-polling /sync with a
          device-list change and a server notice.
  X-IM-4  from the primary (or after password re-authentication) a device
          is logged out, banned (its id and keys stay out), or wiped (told
          with 401 "io.vigie.wipe" at its next request; keys and to-device
          queue deleted at once).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from typing import Any, Optional

import nio
from nio.responses import WhoamiResponse

from tenant_helpers import (NIO_CONFIG, PASSWORD, VIGIE_ADMIN, audit_entries, create_tenant,
                            create_user, login_admin, provider, q, raw, uid)

V3 = "/_matrix/client/v3"
DEVICES = f"{V3}/io.vigie/devices"


class Env:
    """A tenant with a policy, its admin, and one user in it."""

    def __init__(self, server, policy: Optional[dict] = None):
        self.server = server
        self.root = provider(server)
        self.tenant = create_tenant(self.root, "xim")
        admin = create_user(self.root, "tadmin", self.tenant, tenant_admin=True)
        self.tenant_admin = login_admin(server, admin)
        self.user = create_user(self.root, "ann", self.tenant)
        self.user_id = uid(self.user)
        self.clients: list[nio.AsyncClient] = []
        if policy:
            self.set_policy(policy)

    def set_policy(self, doc: dict) -> None:
        r = self.root.req("PUT", f"{VIGIE_ADMIN}/tenants/{q(self.tenant)}/policy", doc)
        assert r.status in (200, 202), r
        if r.status == 202:  # weakens: the tenant's admin approves too
            r = self.tenant_admin.req("POST", f"{VIGIE_ADMIN}/changes/{r.json['change_id']}/approve")
            assert r.status == 200, r
        assert r.json["state"] == "applied", r

    async def device(self, device_id: str, store_path: Optional[str] = None) -> nio.AsyncClient:
        """A logged-in nio client on `device_id` (with E2E if store_path)."""
        config = NIO_CONFIG
        if store_path:
            config = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0,
                                           request_timeout=30, encryption_enabled=True,
                                           store_sync_tokens=False)
        c = nio.AsyncClient(self.server.url, user=self.user, device_id=device_id,
                            store_path=store_path or "", config=config)
        self.clients.append(c)
        r = await c.login(PASSWORD, device_name=f"Device {device_id}")
        assert isinstance(r, nio.LoginResponse), r
        assert r.device_id == device_id
        return c

    def login_raw(self, device_id: str):
        return self.server.login(self.user, PASSWORD, device_id=device_id)

    async def close(self) -> None:
        for c in self.clients:
            await c.close()

    def audit(self, action: str) -> list[dict]:
        return [e for e in audit_entries(self.root, action) if e["target"] == self.user_id]


def assert_error(resp, errcode: str, status: int) -> None:
    assert isinstance(resp, nio.ErrorResponse), resp
    assert resp.status_code == errcode, resp
    assert resp.transport_response.status == status, resp


async def devices_of(c: nio.AsyncClient) -> dict[str, dict]:
    r = await raw(c, "GET", DEVICES)
    assert r.status == 200, r
    return {d["device_id"]: d for d in r.json["devices"]}


async def notice_kinds(c: nio.AsyncClient, want: str, timeout: float = 10) -> list[str]:
    """Syncs until a server notice of kind `want` arrived (or `timeout`);
    returns the kinds seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    kinds: list[str] = []
    while want not in kinds and loop.time() < deadline:
        r = await c.sync(timeout=500, full_state=True)
        assert isinstance(r, nio.SyncResponse), r
        for room in r.rooms.join.values():
            for e in room.timeline.events:
                notice = e.source.get("content", {}).get("io.vigie.notice")
                if notice:
                    kinds.append(notice["kind"])
    return kinds


def password_auth(user_id: str, session: str, password: str = PASSWORD) -> dict:
    return {"type": "m.login.password", "session": session,
            "identifier": {"type": "m.id.user", "user": user_id}, "password": password}


def canonical(o: Any) -> str:
    return json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------
# X-IM-1


async def test_X_IM_1_third_device_refused(server):
    env = Env(server, {"max_devices": 2})
    try:
        await env.device("PHONE")
        await env.device("LAPTOP")
        c3 = nio.AsyncClient(server.url, user=env.user, device_id="TABLET", config=NIO_CONFIG)
        env.clients.append(c3)
        r = await c3.login(PASSWORD)
        assert_error(r, "M_FORBIDDEN", 403)
        assert "maximum of 2 devices" in r.message, r
        raw_r = env.login_raw("TABLET")
        assert raw_r.status == 403, raw_r
        assert raw_r.json["io.vigie.requirement"] == "X-IM-1", raw_r
        # A known device logging in again is not a new device.
        assert env.login_raw("LAPTOP").status == 200
        refusals = env.audit("device.refuse")
        assert refusals and refusals[-1]["details"]["requirement"] == "X-IM-1", refusals
    finally:
        await env.close()


async def test_X_IM_1_evict_oldest(server):
    env = Env(server, {"max_devices": 2, "device_limit_action": "evict_oldest"})
    try:
        primary = await env.device("PHONE")
        old = await env.device("LAPTOP")
        assert isinstance(await old.sync(timeout=0), nio.SyncResponse)
        new = await env.device("TABLET")
        # The oldest non-primary device made room; the primary stays.
        assert_error(await old.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        assert isinstance(await new.sync(timeout=0), nio.SyncResponse)
        devices = await devices_of(primary)
        assert set(devices) == {"PHONE", "TABLET"}, devices
        assert devices["PHONE"]["primary"] is True
        evictions = env.audit("device.evict")
        assert [e["details"]["device_id"] for e in evictions] == ["LAPTOP"], evictions
        assert evictions[0]["details"]["requirement"] == "X-IM-1"
        assert "device.evicted" in await notice_kinds(primary, "device.evicted")
    finally:
        await env.close()


# --------------------------------------------------------------------------
# X-IM-2


async def test_X_IM_2_pending_until_primary_approves(server):
    env = Env(server, {"require_primary_approval": True})
    try:
        primary = await env.device("PHONE")
        room = await primary.room_create(name="ops")
        assert isinstance(room, nio.RoomCreateResponse), room
        r = await raw(primary, "PUT", f"{V3}/rooms/{q(room.room_id)}/send/m.room.message/t1",
                      {"msgtype": "m.text", "body": "hello"})
        assert r.status == 200, r

        pending = await env.device("LAPTOP")  # the login itself succeeds
        # Nothing but whoami, logout and its own state until approved.
        assert_error(await pending.sync(timeout=0), "M_FORBIDDEN", 403)
        r = await raw(pending, "GET", f"{V3}/sync?timeout=0")
        assert r.status == 403, r
        assert r.json["io.vigie.requirement"] == "X-IM-2", r
        assert r.json["io.vigie.device_state"] == "pending", r
        r = await raw(pending, "GET", f"{V3}/rooms/{q(room.room_id)}/messages?dir=b")
        assert r.status == 403, r
        r = await raw(pending, "GET", f"{V3}/rooms/{q(room.room_id)}/state")
        assert r.status == 403, r
        assert isinstance(await pending.whoami(), WhoamiResponse)
        mine = await devices_of(pending)
        assert list(mine) == ["LAPTOP"] and mine["LAPTOP"]["state"] == "pending", mine
        # It cannot approve itself.
        r = await raw(pending, "POST", f"{DEVICES}/LAPTOP/approve", {})
        assert r.status == 403, r

        all_devices = await devices_of(primary)
        assert all_devices["PHONE"]["primary"] and all_devices["PHONE"]["state"] == "active"
        assert all_devices["LAPTOP"]["state"] == "pending"
        r = await raw(primary, "POST", f"{DEVICES}/LAPTOP/approve", {})
        assert r.status == 200, r

        synced = await pending.sync(timeout=0)
        assert isinstance(synced, nio.SyncResponse), synced
        assert room.room_id in synced.rooms.join
        r = await raw(pending, "GET", f"{V3}/rooms/{q(room.room_id)}/messages?dir=b")
        assert r.status == 200, r
        assert "hello" in [e["content"].get("body") for e in r.json["chunk"]], r
        assert (await devices_of(primary))["LAPTOP"]["state"] == "active"
        assert env.audit("device.pending") and env.audit("device.approve")
    finally:
        await env.close()


async def test_X_IM_2_deny(server):
    env = Env(server, {"require_primary_approval": True})
    try:
        primary = await env.device("PHONE")
        pending = await env.device("STRANGER")
        other = await env.device("OTHER")
        # Only the primary decides.
        r = await raw(other, "POST", f"{DEVICES}/STRANGER/deny", {})
        assert r.status == 403, r
        r = await raw(primary, "POST", f"{DEVICES}/STRANGER/deny", {})
        assert r.status == 200, r
        assert_error(await pending.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        assert "STRANGER" not in await devices_of(primary)
        # Approving or denying an active device is an error.
        r = await raw(primary, "POST", f"{DEVICES}/PHONE/deny", {})
        assert r.status == 400, r
        assert [e["details"]["device_id"] for e in env.audit("device.deny")] == ["STRANGER"]
    finally:
        await env.close()


# --------------------------------------------------------------------------
# X-IM-3


async def test_X_IM_3_primary_sees_new_device_immediately(server):
    env = Env(server)
    try:
        primary = await env.device("PHONE")
        first = await primary.sync(timeout=0)
        assert isinstance(first, nio.SyncResponse), first

        loop = asyncio.get_running_loop()
        poll = asyncio.ensure_future(primary.sync(timeout=30000, since=first.next_batch))
        await asyncio.sleep(0.3)
        assert not poll.done()
        t0 = loop.time()
        await env.device("LAPTOP")
        r = await asyncio.wait_for(poll, timeout=10)
        assert isinstance(r, nio.SyncResponse), r
        assert loop.time() - t0 < 5, "the long poll was not woken by the new device"

        changed = set(r.device_list.changed)
        kinds: list[str] = []
        since = r.next_batch
        deadline = loop.time() + 10
        while True:
            for room in r.rooms.join.values():
                for e in room.timeline.events:
                    notice = e.source.get("content", {}).get("io.vigie.notice")
                    if notice:
                        kinds.append(notice["kind"])
                        assert "LAPTOP" in e.source["content"]["body"]
            if env.user_id in changed and "device.new" in kinds:
                break
            assert loop.time() < deadline, (changed, kinds)
            r = await primary.sync(timeout=5000, since=since)
            assert isinstance(r, nio.SyncResponse), r
            changed |= set(r.device_list.changed)
            since = r.next_batch
        assert loop.time() - t0 < 5
    finally:
        await env.close()


# --------------------------------------------------------------------------
# X-IM-4


async def test_X_IM_4_force_logout(server):
    env = Env(server)
    try:
        primary = await env.device("PHONE")
        lost = await env.device("LOST")
        assert isinstance(await lost.sync(timeout=0), nio.SyncResponse)
        r = await raw(primary, "POST", f"{DEVICES}/LOST/logout", {})
        assert r.status == 200, r
        assert_error(await lost.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        assert "LOST" not in await devices_of(primary)
        r = await raw(primary, "POST", f"{DEVICES}/LOST/logout", {})
        assert r.status == 404, r
        entries = env.audit("device.logout")
        assert entries and entries[-1]["details"]["requirement"] == "X-IM-4", entries
        assert entries[-1]["details"]["via"] == "primary"
        assert "device.logout" in await notice_kinds(primary, "device.logout")
    finally:
        await env.close()


async def test_X_IM_4_banned_device_cannot_log_in_again(server, tmp_path):
    env = Env(server)
    try:
        primary = await env.device("PHONE")
        store = tmp_path / "stolen"
        store.mkdir()
        stolen = await env.device("STOLEN", store_path=str(store))
        await stolen.sync(timeout=0)
        assert isinstance(await stolen.keys_upload(), nio.KeysUploadResponse)
        identity = dict(stolen.olm.account.identity_keys)  # {"ed25519": ..., "curve25519": ...}
        account = stolen.olm.account

        # Ban is never aimed at oneself.
        r = await raw(primary, "POST", f"{DEVICES}/PHONE/ban", {})
        assert r.status == 400, r
        r = await raw(primary, "POST", f"{DEVICES}/STOLEN/ban", {})
        assert r.status == 200, r
        assert_error(await stolen.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        assert (await devices_of(primary))["STOLEN"]["state"] == "banned"
        r = await raw(primary, "POST", f"{V3}/keys/query", {"device_keys": {env.user_id: []}})
        assert "STOLEN" not in r.json["device_keys"][env.user_id], r

        # The same device id is refused...
        again = env.login_raw("STOLEN")
        assert again.status == 403, again
        assert again.json["errcode"] == "M_FORBIDDEN"
        assert again.json["io.vigie.requirement"] == "X-IM-4", again
        # ... and so is its key, uploaded by any device of the user.
        other = await env.device("OTHER")
        keys = {"user_id": env.user_id, "device_id": "OTHER",
                "algorithms": ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
                "keys": {"ed25519:OTHER": identity["ed25519"],
                         "curve25519:OTHER": identity["curve25519"]}}
        keys["signatures"] = {env.user_id: {"ed25519:OTHER": account.sign(canonical(keys))}}
        r = await raw(other, "POST", f"{V3}/keys/upload", {"device_keys": keys})
        assert r.status == 403, r
        assert r.json["errcode"] == "M_FORBIDDEN", r
        ban = env.audit("device.ban")
        assert ban and ban[-1]["details"]["requirement"] == "X-IM-4", ban
        assert set(ban[-1]["details"]["keys"]) == {"ed25519:STOLEN", "curve25519:STOLEN"}
    finally:
        await env.close()


def queued_to_device(server, user_id: str, device_id: str) -> int:
    """Rows in the device's to-device queue, read from the database."""
    sql = "SELECT COUNT(*) FROM to_device_messages WHERE user_id = '{}' AND device_id = '{}'"
    sql = sql.format(user_id.replace("'", "''"), device_id.replace("'", "''"))
    if server.pg:
        out = subprocess.run(["psql", server.pg.uri, "-X", "-q", "-t", "-A", "-c", sql],
                             check=True, capture_output=True, text=True, timeout=30)
        return int(out.stdout.strip())
    db = sqlite3.connect(server.data_dir / "vigie.db")
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


async def test_X_IM_4_wiped_device_told_to_wipe(server, tmp_path):
    env = Env(server)
    try:
        primary = await env.device("PHONE")
        store = tmp_path / "lost"
        store.mkdir()
        lost = await env.device("LOST", store_path=str(store))
        await lost.sync(timeout=0)
        assert isinstance(await lost.keys_upload(), nio.KeysUploadResponse)
        token = lost.access_token
        r = await raw(primary, "PUT", f"{V3}/sendToDevice/m.test/txn1",
                      {"messages": {env.user_id: {"LOST": {"secret": "s"}}}})
        assert r.status == 200, r
        assert queued_to_device(server, env.user_id, "LOST") == 1
        r = await raw(primary, "POST", f"{V3}/keys/query", {"device_keys": {env.user_id: []}})
        assert "LOST" in r.json["device_keys"][env.user_id], r

        r = await raw(primary, "POST", f"{DEVICES}/LOST/wipe", {})
        assert r.status == 200, r
        # Keys and queued to-device messages are gone at once.
        r = await raw(primary, "POST", f"{V3}/keys/query", {"device_keys": {env.user_id: []}})
        assert "LOST" not in r.json["device_keys"][env.user_id], r
        assert queued_to_device(server, env.user_id, "LOST") == 0
        assert (await devices_of(primary))["LOST"]["wipe_requested_ts"] > 0

        # At its next request the device is told, once, to wipe.
        r = server.request("GET", f"{V3}/sync?timeout=0", token=token)
        assert r.status == 401, r
        assert r.json["errcode"] == "M_UNKNOWN_TOKEN", r
        assert r.json["soft_logout"] is False, r
        assert r.json["io.vigie.wipe"] is True, r
        assert_error(await lost.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        r = server.request("GET", f"{V3}/account/whoami", token=token)
        assert r.status == 401 and "io.vigie.wipe" not in r.json, r
        assert "LOST" not in await devices_of(primary)
        assert env.audit("device.wipe") and env.audit("device.wiped")
    finally:
        await env.close()


async def test_X_IM_4_needs_primary_or_reauth(server):
    env = Env(server)
    try:
        primary = await env.device("PHONE")
        second = await env.device("SECOND")
        target = await env.device("TARGET")
        # Not from the primary: user-interactive auth with the password.
        r = await raw(second, "POST", f"{DEVICES}/TARGET/logout", {})
        assert r.status == 401, r
        assert r.json["flows"] == [{"stages": ["m.login.password"]}], r
        session = r.json["session"]
        r = await raw(second, "POST", f"{DEVICES}/TARGET/logout",
                      {"auth": password_auth(env.user_id, session, "wrong password")})
        assert r.status == 401 and r.json.get("errcode") == "M_FORBIDDEN", r
        assert isinstance(await target.sync(timeout=0), nio.SyncResponse)
        r = await raw(second, "POST", f"{DEVICES}/TARGET/logout",
                      {"auth": password_auth(env.user_id, session)})
        assert r.status == 200, r
        assert_error(await target.sync(timeout=0), "M_UNKNOWN_TOKEN", 401)
        assert env.audit("device.logout")[-1]["details"]["via"] == "reauth"
        # Approval and handover stay with the primary, re-authenticated or not.
        r = await raw(second, "PUT", f"{DEVICES}/SECOND/primary", {})
        assert r.status == 403, r
        assert "primary" in r.json["error"], r
        # The primary needs no password; it may hand over its role.
        r = await raw(primary, "PUT", f"{DEVICES}/SECOND/primary", {})
        assert r.status == 200, r
        devices = await devices_of(second)
        assert devices["SECOND"]["primary"] and not devices["PHONE"]["primary"], devices
        r = await raw(primary, "POST", f"{DEVICES}/SECOND/wipe", {})
        assert r.status == 401, r  # no longer the primary
        r = await raw(second, "POST", f"{DEVICES}/SECOND/wipe", {})
        assert r.status == 400, r  # never oneself
    finally:
        await env.close()
