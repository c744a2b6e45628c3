"""A real Matrix client (matrix-nio 0.20, Debian's python3-matrix-nio) against
a live vigie: registration, login, devices, passwords, profiles, logout,
deactivation.

nio 0.20 speaks the legacy r0 paths with `?access_token=`, which vigie serves
as aliases of v3. Where nio has no method for an endpoint (registration
tokens, account/password, account/deactivate, register/available, the
token-validity check, DELETE /devices/{id}) the request still goes through
nio's own transport, `AsyncClient.send`, via `raw()` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from typing import Any, Optional

import nio
import pytest
from nio.responses import WhoamiResponse

from conftest import SERVER_NAME

PASSWORD = "correct horse battery"

# Never retry on 429 or timeouts: a test must see what the server answered.
NIO_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0,
                                   request_timeout=20)


def uid(localpart: str) -> str:
    return f"@{localpart}:{SERVER_NAME}"


@contextlib.asynccontextmanager
async def client(server, user: str = ""):
    c = nio.AsyncClient(server.url, user=user, config=NIO_CONFIG)
    try:
        yield c
    finally:
        await c.close()


async def login(stack: contextlib.AsyncExitStack, server, user: str,
                password: str = PASSWORD, device_name: str = "") -> nio.AsyncClient:
    c = await stack.enter_async_context(client(server, user))
    r = await c.login(password, device_name=device_name)
    assert isinstance(r, nio.LoginResponse), r
    return c


async def raw(c: nio.AsyncClient, method: str, path: str, body: Any = None,
              token: Optional[str] = None) -> tuple[int, Any]:
    """An endpoint nio 0.20 has no method for, sent through nio's transport
    with the client's access token (as a query parameter, like nio does)."""
    token = token if token is not None else c.access_token
    if token:
        path += ("&" if "?" in path else "?") + urllib.parse.urlencode({"access_token": token})
    data = json.dumps(body) if body is not None else None
    r = await c.send(method, path, data, {"Content-Type": "application/json"})
    text = await r.text()
    return r.status, (json.loads(text) if text else None)


def assert_error(resp, errcode: str, status: int) -> None:
    assert isinstance(resp, nio.ErrorResponse), resp
    assert resp.status_code == errcode, resp
    assert resp.transport_response.status == status, resp


# --------------------------------------------------------------------------
# Discovery.


async def test_discovery_versions_and_login_flows(server):
    async with client(server) as c:
        status, versions = await raw(c, "GET", "/_matrix/client/versions")
        assert status == 200 and "r0.6.1" in versions["versions"]
        info = await c.login_info()
        assert isinstance(info, nio.LoginInfoResponse), info
        assert info.flows == ["m.login.password"]
        disco = await c.discovery_info()
        assert isinstance(disco, nio.DiscoveryInfoResponse), disco
        assert disco.homeserver_url.startswith("http://127.0.0.1:")


async def test_discovery_advertises_the_bound_port(server):
    async with client(server) as c:
        disco = await c.discovery_info()
        assert disco.homeserver_url.rstrip("/") == server.url


# --------------------------------------------------------------------------
# Registration.


async def test_register_open_dummy_flow_then_whoami(server, unique):
    name = unique("open")
    async with client(server) as c:
        # The flows first, as a client discovers them.
        status, body = await raw(c, "POST", "/_matrix/client/r0/register",
                                 {"username": name, "password": PASSWORD})
        assert status == 401, body
        assert body["flows"] == [{"stages": ["m.login.dummy"]}]
        assert body["session"]
        # nio's register() completes the dummy stage.
        r = await c.register(name, PASSWORD, device_name="nio laptop")
        assert isinstance(r, nio.RegisterResponse), r
        assert r.user_id == uid(name)
        assert c.access_token and c.user_id == uid(name)
        who = await c.whoami()
        assert isinstance(who, WhoamiResponse), who
        assert who.user_id == uid(name)
        status, body = await raw(c, "GET", "/_matrix/client/r0/account/whoami")
        assert body["device_id"] == r.device_id and body["is_guest"] is False
        devices = await c.devices()
        assert [(d.id, d.display_name) for d in devices.devices] == [(r.device_id, "nio laptop")]
        # Registration sets the display name to the localpart.
        dn = await c.get_displayname()
        assert dn.displayname == name


async def test_register_username_is_case_folded(server, unique):
    name = unique("MiXeD")
    async with client(server) as c:
        r = await c.register(name, PASSWORD)
        assert isinstance(r, nio.RegisterResponse), r
        assert r.user_id == uid(name.lower())


async def test_register_errors(server, unique):
    taken = unique("taken")
    async with client(server) as c:
        assert isinstance(await c.register(taken, PASSWORD), nio.RegisterResponse)
    async with client(server) as c:
        assert_error(await c.register(taken, PASSWORD), "M_USER_IN_USE", 400)
        # Taken regardless of case.
        assert_error(await c.register(taken.upper(), PASSWORD), "M_USER_IN_USE", 400)
        for bad in ("has space", "emoji\u263a", "colon:x", "at@x", "a" * 300):
            assert_error(await c.register(bad, PASSWORD), "M_INVALID_USERNAME", 400)
        assert_error(await c.register(unique("weak"), "short"), "M_WEAK_PASSWORD", 400)
        assert_error(await c.register(unique("long"), "x" * 600), "M_WEAK_PASSWORD", 400)
        # Missing password: checked before UIA.
        status, body = await raw(c, "POST", "/_matrix/client/r0/register",
                                 {"username": unique("nopw"), "auth": {"type": "m.login.dummy"}})
        assert (status, body["errcode"]) == (400, "M_MISSING_PARAM"), body
        # Guests are not welcome.
        status, body = await raw(c, "POST", "/_matrix/client/r0/register?kind=guest", {})
        assert (status, body["errcode"]) == (403, "M_GUEST_ACCESS_FORBIDDEN"), body
        # A stage the flow does not offer.
        status, body = await raw(c, "POST", "/_matrix/client/r0/register", {
            "username": unique("stage"), "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": "x"}})
        assert status == 401 and body["errcode"] == "M_UNRECOGNIZED", body


async def test_register_without_username_gets_generated_one(server):
    async with client(server) as c:
        status, body = await raw(c, "POST", "/_matrix/client/r0/register",
                                 {"password": PASSWORD, "auth": {"type": "m.login.dummy"}})
        assert status == 200, body
        assert body["user_id"].startswith("@") and body["user_id"].endswith(":" + SERVER_NAME)
        c.restore_login(body["user_id"], body["device_id"], body["access_token"])
        assert (await c.whoami()).user_id == body["user_id"]


async def test_register_inhibit_login(server, unique):
    name = unique("inhibit")
    async with client(server) as c:
        status, body = await raw(c, "POST", "/_matrix/client/r0/register", {
            "username": name, "password": PASSWORD, "inhibit_login": True,
            "auth": {"type": "m.login.dummy"}})
        assert status == 200 and body["user_id"] == uid(name), body
        assert "access_token" not in body and "device_id" not in body
    async with contextlib.AsyncExitStack() as stack:
        c = await login(stack, server, name)
        assert [d.id for d in (await c.devices()).devices] == [c.device_id]


async def test_register_available(server, unique):
    free, taken = unique("free"), unique("busy")
    server.register(taken, PASSWORD)
    async with client(server) as c:
        path = "/_matrix/client/r0/register/available?username="
        status, body = await raw(c, "GET", path + free)
        assert (status, body) == (200, {"available": True})
        status, body = await raw(c, "GET", path + taken)
        assert (status, body["errcode"]) == (400, "M_USER_IN_USE"), body
        status, body = await raw(c, "GET", path + "no%20spaces")
        assert (status, body["errcode"]) == (400, "M_INVALID_USERNAME"), body
        status, body = await raw(c, "GET", "/_matrix/client/r0/register/available")
        assert (status, body["errcode"]) == (400, "M_MISSING_PARAM"), body


async def test_register_with_registration_token(server_factory, unique):
    s = server_factory({"registration": {"mode": "token"}})
    assert s.registration_token, "a first start in token mode prints a registration token"
    name = unique("tok")
    async with client(s) as c:
        validity = "/_matrix/client/v1/register/m.login.registration_token/validity?token="
        assert await raw(c, "GET", validity + s.registration_token) == (200, {"valid": True})
        assert await raw(c, "GET", validity + "nope") == (200, {"valid": False})

        body = {"username": name, "password": PASSWORD, "initial_device_display_name": "tok"}
        status, challenge = await raw(c, "POST", "/_matrix/client/r0/register", body)
        assert status == 401, challenge
        assert challenge["flows"] == [{"stages": ["m.login.registration_token"]}]
        session = challenge["session"]

        # nio's register() only knows m.login.dummy, which this flow refuses.
        r = await c.register(unique("dummy"), PASSWORD)
        assert isinstance(r, nio.ErrorResponse) and r.transport_response.status == 401, r

        # A wrong token: 401 again, with the error and the same session.
        status, again = await raw(c, "POST", "/_matrix/client/r0/register", {
            **body, "auth": {"type": "m.login.registration_token", "token": "wrong",
                             "session": session}})
        assert status == 401 and again["errcode"] == "M_FORBIDDEN", again
        assert again["session"] == session

        status, ok = await raw(c, "POST", "/_matrix/client/r0/register", {
            **body, "auth": {"type": "m.login.registration_token",
                             "token": s.registration_token, "session": session}})
        assert status == 200, ok
        assert ok["user_id"] == uid(name)
        c.restore_login(ok["user_id"], ok["device_id"], ok["access_token"])
        assert (await c.whoami()).user_id == uid(name)

        # The session is spent.
        status, spent = await raw(c, "POST", "/_matrix/client/r0/register", {
            **body, "username": unique("again"),
            "auth": {"type": "m.login.registration_token",
                     "token": s.registration_token, "session": session}}, token="")
        assert status == 400 and spent["errcode"] == "M_UNKNOWN", spent


async def test_registration_token_is_single_use(server_factory, unique):
    s = server_factory({"registration": {"mode": "token"}})
    token = s.create_token(uses=1)
    validity = f"/_matrix/client/v1/register/m.login.registration_token/validity?token={token}"
    async with client(s) as c:
        assert await raw(c, "GET", validity) == (200, {"valid": True})
        auth = {"type": "m.login.registration_token", "token": token}
        status, first = await raw(c, "POST", "/_matrix/client/r0/register",
                                  {"username": unique("first"), "password": PASSWORD,
                                   "auth": auth})
        assert status == 200, first
        assert await raw(c, "GET", validity) == (200, {"valid": False})
        status, second = await raw(c, "POST", "/_matrix/client/r0/register",
                                   {"username": unique("second"), "password": PASSWORD,
                                    "auth": auth}, token="")
        assert status == 401 and second["errcode"] == "M_FORBIDDEN", second
        # The unlimited first-start token still works.
        status, third = await raw(c, "POST", "/_matrix/client/r0/register", {
            "username": unique("third"), "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": s.registration_token}},
            token="")
        assert status == 200, third
    listed = s.cli("token", "list").stdout
    assert f"{token}\tcompleted=1\tuses_allowed=1" in listed, listed


async def test_registration_disabled(server_factory, unique):
    s = server_factory({"registration": {"mode": "disabled"}})
    assert s.registration_token is None
    async with client(s) as c:
        assert_error(await c.register(unique("nobody"), PASSWORD), "M_FORBIDDEN", 403)
    # The command line still creates users, who can log in.
    name = unique("cli")
    assert s.create_user(name, PASSWORD) == uid(name)
    async with contextlib.AsyncExitStack() as stack:
        c = await login(stack, s, name)
        assert (await c.whoami()).user_id == uid(name)


# --------------------------------------------------------------------------
# Login, whoami, logout.


async def test_login_whoami_logout(server, unique):
    name = unique("login")
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        c = await login(stack, server, name, device_name="phone")
        assert c.user_id == uid(name)
        who = await c.whoami()
        assert isinstance(who, WhoamiResponse) and who.user_id == uid(name)
        # By full user id too, and with a chosen device id.
        c2 = await stack.enter_async_context(client(server, uid(name)))
        c2.device_id = "MYDEVICE"
        r = await c2.login(PASSWORD)
        assert isinstance(r, nio.LoginResponse) and r.device_id == "MYDEVICE", r

        token = c.access_token
        assert isinstance(await c.logout(), nio.LogoutResponse)
        c.access_token = token
        assert_error(await c.whoami(), "M_UNKNOWN_TOKEN", 401)
        status, body = await raw(c, "GET", "/_matrix/client/r0/account/whoami")
        assert body["soft_logout"] is False
        # The other session is untouched.
        assert (await c2.whoami()).user_id == uid(name)

        # Logging in again with the same device id replaces its token.
        old = c2.access_token
        c3 = await stack.enter_async_context(client(server, name))
        c3.device_id = "MYDEVICE"
        assert isinstance(await c3.login(PASSWORD), nio.LoginResponse)
        assert_error(await c2.whoami(), "M_UNKNOWN_TOKEN", 401)
        assert c3.access_token != old and (await c3.whoami()).user_id == uid(name)


async def test_login_failures(server, unique):
    name = unique("nologin")
    server.create_user(name, PASSWORD)
    async with client(server, name) as c:
        assert_error(await c.login("wrong password"), "M_FORBIDDEN", 403)
    async with client(server, unique("ghost")) as c:
        assert_error(await c.login(PASSWORD), "M_FORBIDDEN", 403)
    async with client(server) as c:
        r = await c.login_raw({"type": "m.login.token", "token": "x"})
        assert isinstance(r, nio.ErrorResponse) and r.transport_response.status == 400, r
        r = await c.login_raw({"type": "m.login.password", "password": PASSWORD})
        assert_error(r, "M_MISSING_PARAM", 400)
        # The deprecated top-level "user" still works.
        r = await c.login_raw({"type": "m.login.password", "user": name, "password": PASSWORD})
        assert isinstance(r, nio.LoginResponse), r


async def test_logout_all(server, unique):
    name = unique("all")
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await login(stack, server, name) for _ in range(3)]
        tokens = [c.access_token for c in clients]
        assert isinstance(await clients[0].logout(all_devices=True), nio.LogoutResponse)
        for c, t in zip(clients, tokens):
            c.access_token = t
            assert_error(await c.whoami(), "M_UNKNOWN_TOKEN", 401)
        fresh = await login(stack, server, name)
        devices = await fresh.devices()
        assert [d.id for d in devices.devices] == [fresh.device_id]


# --------------------------------------------------------------------------
# Devices.


async def test_devices_list_rename_delete_with_uia(server, unique):
    name = unique("dev")
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, name, device_name="A")
        b = await login(stack, server, name, device_name="B")
        c = await login(stack, server, name, device_name="C")
        listed = await a.devices()
        assert isinstance(listed, nio.DevicesResponse), listed
        assert {d.id: d.display_name for d in listed.devices} == {
            a.device_id: "A", b.device_id: "B", c.device_id: "C"}
        assert all(d.last_seen_ip == "127.0.0.1" for d in listed.devices)

        r = await a.update_device(b.device_id, {"display_name": "renamed B"})
        assert isinstance(r, nio.UpdateDeviceResponse), r
        status, one = await raw(a, "GET", f"/_matrix/client/r0/devices/{b.device_id}")
        assert status == 200 and one["display_name"] == "renamed B", one
        assert_error(await a.update_device("NOSUCHDEV", {"display_name": "x"}),
                     "M_NOT_FOUND", 404)
        assert_error(await a.update_device(b.device_id, {"display_name": "x" * 300}),
                     "M_INVALID_PARAM", 400)

        # UIA: first a 401 with the flows and a session...
        challenge = await a.delete_devices([b.device_id, c.device_id])
        assert isinstance(challenge, nio.DeleteDevicesAuthResponse), challenge
        assert challenge.transport_response.status == 401
        assert challenge.flows == [{"stages": ["m.login.password"]}]
        session = challenge.session
        # ...a wrong password gets the challenge again, with an error...
        wrong = {"type": "m.login.password", "session": session,
                 "identifier": {"type": "m.id.user", "user": name}, "password": "nope"}
        status, body = await raw(a, "POST", "/_matrix/client/r0/delete_devices",
                                 {"devices": [b.device_id], "auth": wrong})
        assert status == 401 and body["errcode"] == "M_FORBIDDEN", body
        assert body["session"] == session and body["flows"]
        # ...another user's password does not do either...
        other = unique("other")
        server.create_user(other, PASSWORD)
        status, body = await raw(a, "POST", "/_matrix/client/r0/delete_devices", {
            "devices": [b.device_id],
            "auth": {**wrong, "identifier": {"type": "m.id.user", "user": other},
                     "password": PASSWORD}})
        assert status == 401 and body["errcode"] == "M_FORBIDDEN", body
        # ...and the right one deletes the devices (nio's documented auth dict).
        r = await a.delete_devices([b.device_id, c.device_id],
                                   {"type": "m.login.password", "user": name,
                                    "password": PASSWORD, "session": session})
        assert isinstance(r, nio.DeleteDevicesResponse), r
        assert_error(await b.whoami(), "M_UNKNOWN_TOKEN", 401)
        assert_error(await c.whoami(), "M_UNKNOWN_TOKEN", 401)
        assert [d.id for d in (await a.devices()).devices] == [a.device_id]
        status, body = await raw(a, "GET", f"/_matrix/client/r0/devices/{b.device_id}")
        assert (status, body["errcode"]) == (404, "M_NOT_FOUND")

        # DELETE /devices/{id} (no nio method), in one round with the full user id.
        d = await login(stack, server, name, device_name="D")
        status, body = await raw(a, "DELETE", f"/_matrix/client/r0/devices/{d.device_id}")
        assert status == 401 and body["flows"] == [{"stages": ["m.login.password"]}], body
        status, body = await raw(a, "DELETE", f"/_matrix/client/r0/devices/{d.device_id}", {
            "auth": {"type": "m.login.password", "session": body["session"],
                     "identifier": {"type": "m.id.user", "user": uid(name)},
                     "password": PASSWORD}})
        assert (status, body) == (200, {}), body
        assert_error(await d.whoami(), "M_UNKNOWN_TOKEN", 401)


async def test_uia_session_cannot_be_used_by_another_user(server, unique):
    alice, bob = unique("alice"), unique("bob")
    server.create_user(alice, PASSWORD)
    server.create_user(bob, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, alice)
        b = await login(stack, server, bob)
        challenge = await a.delete_devices([a.device_id])
        assert isinstance(challenge, nio.DeleteDevicesAuthResponse)
        r = await b.delete_devices([b.device_id], {
            "type": "m.login.password", "user": bob, "password": PASSWORD,
            "session": challenge.session})
        assert_error(r, "M_FORBIDDEN", 403)
        assert (await b.whoami()).user_id == uid(bob)
        # Deleting someone else's device id only touches one's own devices.
        r = await b.delete_devices([a.device_id], {
            "type": "m.login.password", "user": bob, "password": PASSWORD})
        assert isinstance(r, nio.DeleteDevicesResponse), r
        assert (await a.whoami()).user_id == uid(alice)


# --------------------------------------------------------------------------
# Passwords.


async def test_change_password_logs_out_other_devices(server, unique):
    name = unique("pw")
    new = "an even better password"
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, name)
        b = await login(stack, server, name)
        c = await login(stack, server, name)
        path = "/_matrix/client/r0/account/password"  # nio 0.20 has no method for it
        status, challenge = await raw(a, "POST", path, {"new_password": new})
        assert status == 401 and challenge["flows"] == [{"stages": ["m.login.password"]}]
        auth = {"type": "m.login.password", "session": challenge["session"],
                "identifier": {"type": "m.id.user", "user": name}}
        status, body = await raw(a, "POST", path, {"new_password": new,
                                                   "auth": {**auth, "password": "bad"}})
        assert status == 401 and body["errcode"] == "M_FORBIDDEN", body
        status, body = await raw(a, "POST", path, {"new_password": "short",
                                                   "auth": {**auth, "password": PASSWORD}})
        assert (status, body["errcode"]) == (400, "M_WEAK_PASSWORD"), body
        status, body = await raw(a, "POST", path, {"new_password": new,
                                                   "auth": {**auth, "password": PASSWORD}})
        assert (status, body) == (200, {}), body

        assert (await a.whoami()).user_id == uid(name)
        for other in (b, c):
            r = await other.whoami()
            assert_error(r, "M_UNKNOWN_TOKEN", 401)
            assert r.soft_logout is False
        assert [d.id for d in (await a.devices()).devices] == [a.device_id]

        async with client(server, name) as old:
            assert_error(await old.login(PASSWORD), "M_FORBIDDEN", 403)
        async with client(server, name) as fresh:
            assert isinstance(await fresh.login(new), nio.LoginResponse)


async def test_change_password_keeping_devices(server, unique):
    name = unique("keep")
    new = "yet another password"
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, name)
        b = await login(stack, server, name)
        status, body = await raw(a, "POST", "/_matrix/client/r0/account/password", {
            "new_password": new, "logout_devices": False,
            "auth": {"type": "m.login.password", "user": name, "password": PASSWORD}})
        assert (status, body) == (200, {}), body
        assert (await b.whoami()).user_id == uid(name)
        async with client(server, name) as fresh:
            assert isinstance(await fresh.login(new), nio.LoginResponse)


# --------------------------------------------------------------------------
# Profiles.


async def test_profile_displayname_and_avatar(server, unique):
    alice, bob = unique("alice"), unique("bob")
    server.create_user(alice, PASSWORD)
    server.create_user(bob, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, alice)
        b = await login(stack, server, bob)
        assert (await a.get_displayname()).displayname == alice
        r = await a.set_displayname("Alice \u00e9\u263a Liddell")
        assert isinstance(r, nio.ProfileSetDisplayNameResponse), r
        r = await a.set_avatar("mxc://test.vigie/abcDEF123")
        assert isinstance(r, nio.ProfileSetAvatarResponse), r

        # Others can read it, with or without a token.
        profile = await b.get_profile(uid(alice))
        assert isinstance(profile, nio.ProfileGetResponse), profile
        assert profile.displayname == "Alice \u00e9\u263a Liddell"
        assert profile.avatar_url == "mxc://test.vigie/abcDEF123"
        assert (await b.get_avatar(uid(alice))).avatar_url == "mxc://test.vigie/abcDEF123"
        async with client(server) as anon:
            assert (await anon.get_displayname(uid(alice))).displayname == \
                "Alice \u00e9\u263a Liddell"

        # Nobody sets another's profile: nio builds the path from user_id.
        b.user_id = uid(alice)
        assert_error(await b.set_displayname("hijacked"), "M_FORBIDDEN", 403)
        assert_error(await b.set_avatar("mxc://evil/x"), "M_FORBIDDEN", 403)
        b.user_id = uid(bob)
        assert (await b.get_displayname(uid(alice))).displayname == "Alice \u00e9\u263a Liddell"

        assert_error(await a.set_avatar("https://not.mxc/x"), "M_INVALID_PARAM", 400)
        assert_error(await a.set_displayname("x" * 300), "M_INVALID_PARAM", 400)

        # Unknown and malformed users.
        assert_error(await b.get_profile(uid(unique("nobody"))), "M_NOT_FOUND", 404)
        assert_error(await b.get_displayname("not-a-user-id"), "M_INVALID_PARAM", 400)

        # Clearing the avatar: the field is gone.
        status, body = await raw(a, "PUT", f"/_matrix/client/r0/profile/{uid(alice)}/avatar_url",
                                 {"avatar_url": None})
        assert status == 200, body
        profile = await b.get_profile(uid(alice))
        assert profile.avatar_url is None and profile.displayname
        assert_error(await b.get_avatar(uid(alice)), "M_NOT_FOUND", 404)


# --------------------------------------------------------------------------
# Deactivation.


async def test_deactivate(server, unique):
    name = unique("gone")
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        a = await login(stack, server, name)
        b = await login(stack, server, name)
        path = "/_matrix/client/r0/account/deactivate"  # nio 0.20 has no method for it
        status, challenge = await raw(a, "POST", path, {})
        assert status == 401 and challenge["flows"] == [{"stages": ["m.login.password"]}]
        status, body = await raw(a, "POST", path, {"auth": {
            "type": "m.login.password", "session": challenge["session"],
            "identifier": {"type": "m.id.user", "user": name}, "password": "wrong"}})
        assert status == 401 and body["errcode"] == "M_FORBIDDEN", body
        status, body = await raw(a, "POST", path, {"erase": True, "auth": {
            "type": "m.login.password", "session": challenge["session"],
            "identifier": {"type": "m.id.user", "user": name}, "password": PASSWORD}})
        assert status == 200 and body["id_server_unbind_result"] == "no-support", body

        assert_error(await a.whoami(), "M_UNKNOWN_TOKEN", 401)
        assert_error(await b.whoami(), "M_UNKNOWN_TOKEN", 401)
        async with client(server, name) as c:
            assert_error(await c.login(PASSWORD), "M_USER_DEACTIVATED", 403)
            assert_error(await c.login("wrong"), "M_USER_DEACTIVATED", 403)
        # The name stays taken, and an erased profile is empty.
        async with client(server) as c:
            assert_error(await c.register(name, PASSWORD), "M_USER_IN_USE", 400)
            profile = await c.get_profile(uid(name))
            assert isinstance(profile, nio.ProfileGetResponse), profile
            assert profile.displayname is None and profile.avatar_url is None


# --------------------------------------------------------------------------
# Races: many clients at once.


async def test_concurrent_registrations_of_one_name(server, unique):
    name = unique("race")
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(server)) for _ in range(12)]
        results = await asyncio.gather(*(c.register(name, PASSWORD) for c in clients))
    ok = [r for r in results if isinstance(r, nio.RegisterResponse)]
    assert len(ok) == 1, results
    for r in results:
        if not isinstance(r, nio.RegisterResponse):
            assert_error(r, "M_USER_IN_USE", 400)


async def test_concurrent_use_of_a_single_use_token(server_factory, unique):
    s = server_factory({"registration": {"mode": "token"}})
    token = s.create_token(uses=1)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(s)) for _ in range(12)]
        results = await asyncio.gather(*(
            raw(c, "POST", "/_matrix/client/r0/register", {
                "username": unique("tokrace"), "password": PASSWORD,
                "auth": {"type": "m.login.registration_token", "token": token}})
            for c in clients))
    assert sum(status == 200 for status, _ in results) == 1, results
    for status, body in results:
        assert status in (200, 401), (status, body)
    listed = s.cli("token", "list").stdout
    assert f"{token}\tcompleted=1\tuses_allowed=1" in listed, listed


async def test_concurrent_logins_and_logouts_of_one_user(server, unique):
    name = unique("busy")
    server.create_user(name, PASSWORD)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(client(server, name)) for _ in range(10)]
        results = await asyncio.gather(*(c.login(PASSWORD) for c in clients))
        assert all(isinstance(r, nio.LoginResponse) for r in results), results
        assert len({c.device_id for c in clients}) == 10
        results = await asyncio.gather(*(c.logout() for c in clients[:5]),
                                       *(c.whoami() for c in clients[5:]))
        assert all(not isinstance(r, nio.ErrorResponse) for r in results), results
        devices = await clients[9].devices()
        assert {d.id for d in devices.devices} == {c.device_id for c in clients[5:]}
