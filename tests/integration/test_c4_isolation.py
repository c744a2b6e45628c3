"""C4 tenant isolation against a live vigie, with matrix-nio 0.20 clients:
users of two unlinked tenants cannot invite, find, look up, see the
presence of, fetch the files of, or join the rooms of each other; once the
tenants are linked (proposed by the provider, approved by both tenant
admins: X-OR-1) all of it works; removing the link leaves existing rooms
working but lets nobody new across.

Tenants, links and users are made through the admin APIs
(tenant_helpers.py). Each test makes its own pair of tenants, so the tests
share one server. The server serves the legacy unauthenticated media
download (as nio 0.20 downloads), which must serve the default tenant only.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import nio
import pytest

from conftest import SERVER_NAME, VigieServer
from tenant_helpers import (Admin, assert_error, create_tenant, create_user, link, login_admin,
                            nio_login, provider, raw, uid, unlink)

V3 = "/_matrix/client/v3"
MEDIA_V1 = "/_matrix/client/v1/media"


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    s = VigieServer(tmp_path_factory.mktemp(f"vigie-c4-{engine}"), engine,
                    {"media": {"allow_unauthenticated_download": True}})
    try:
        s.start()
        yield s
        s.stop()
    finally:
        s.cleanup()


@pytest.fixture(scope="module")
def root(server) -> Admin:
    return provider(server)


@dataclass
class World:
    """Two fresh tenants: alice and amy in a, bob in b, and an admin each."""
    a: str
    b: str
    admin_a: Admin
    admin_b: Admin
    alice: nio.AsyncClient
    amy: nio.AsyncClient
    bob: nio.AsyncClient


@contextlib.asynccontextmanager
async def world(server, root: Admin):
    a = create_tenant(root, "a")
    b = create_tenant(root, "b")
    admin_a = login_admin(server, create_user(root, "admin-a", a, tenant_admin=True))
    admin_b = login_admin(server, create_user(root, "admin-b", b, tenant_admin=True))
    clients = []
    try:
        for prefix, tenant in (("alice", a), ("amy", a), ("bob", b)):
            clients.append(await nio_login(server, create_user(root, prefix, tenant)))
        yield World(a, b, admin_a, admin_b, *clients)
    finally:
        for c in clients:
            await c.close()


async def public_room(c: nio.AsyncClient, name: str) -> str:
    r = await c.room_create(visibility=nio.RoomVisibility.public,
                            preset=nio.RoomPreset.public_chat, name=name)
    assert isinstance(r, nio.RoomCreateResponse), r
    return r.room_id


async def search(c: nio.AsyncClient, term: str) -> list[str]:
    r = await raw(c, "POST", f"{V3}/user_directory/search", {"search_term": term, "limit": 50})
    assert r.status == 200, r
    return [u["user_id"] for u in r.json["results"]]


async def listed_rooms(c: nio.AsyncClient, token: bool = True) -> set[str]:
    r = await raw(c, "GET", f"{V3}/publicRooms?limit=500", token=token)
    assert r.status == 200, r
    return {room["room_id"] for room in r.json["chunk"]}


def assert_c4(r) -> None:
    assert r.status == 403, r
    assert r.json["errcode"] == "M_FORBIDDEN", r
    assert r.json["io.vigie.requirement"] == "C4", r


async def upload(c: nio.AsyncClient, data: bytes) -> tuple[str, str]:
    r, _ = await c.upload(io.BytesIO(data), "text/plain", "f.txt", filesize=len(data))
    assert isinstance(r, nio.UploadResponse), r
    server_name, media_id = r.content_uri[len("mxc://"):].split("/")
    assert server_name == SERVER_NAME
    return server_name, media_id


async def test_C4_cross_tenant_invite_refused_without_link(server, root):
    async with world(server, root) as w:
        room = (await w.alice.room_create(name="a only")).room_id
        r = await w.alice.room_invite(room, w.bob.user_id)
        assert_error(r, "M_FORBIDDEN", 403)
        # createRoom's invite list is refused as a whole; no room is made.
        before = (await w.alice.joined_rooms()).rooms
        r = await w.alice.room_create(invite=[w.amy.user_id, w.bob.user_id])
        assert_error(r, "M_FORBIDDEN", 403)
        assert sorted((await w.alice.joined_rooms()).rooms) == sorted(before)
        # Within the tenant, invitations work.
        assert isinstance(await w.alice.room_invite(room, w.amy.user_id),
                          nio.RoomInviteResponse)
        r = await raw(w.alice, "POST", f"{V3}/rooms/{room}/invite", {"user_id": w.bob.user_id})
        assert_c4(r)


async def test_C4_directory_search(server, root):
    async with world(server, root) as w:
        await public_room(w.bob, "bee hive")  # bob is in a public room: searchable
        await public_room(w.amy, "amy's")
        bob_local = w.bob.user_id[1:].split(":")[0]
        amy_local = w.amy.user_id[1:].split(":")[0]
        assert await search(w.alice, bob_local) == []
        assert await search(w.alice, amy_local) == [w.amy.user_id]
        assert await search(w.bob, amy_local) == []
        assert await search(w.bob, bob_local) == [w.bob.user_id]


async def test_C4_profile(server, root):
    async with world(server, root) as w:
        r = await w.alice.get_profile(w.bob.user_id)
        assert_error(r, "M_FORBIDDEN", 403)
        r = await w.alice.get_displayname(w.bob.user_id)
        assert_error(r, "M_FORBIDDEN", 403)
        assert_c4(await raw(w.alice, "GET", f"{V3}/profile/{w.bob.user_id}/avatar_url"))
        # Without a token: the default tenant's users only.
        assert_c4(await raw(w.alice, "GET", f"{V3}/profile/{w.alice.user_id}", token=False))
        r = await w.alice.get_profile(w.amy.user_id)
        assert isinstance(r, nio.ProfileGetResponse), r
        # Unknown users stay 404.
        r = await w.alice.get_profile(uid("nobody-at-all"))
        assert_error(r, "M_NOT_FOUND", 404)


async def test_C4_presence(server, root):
    async with world(server, root) as w:
        assert isinstance(await w.bob.set_presence("online", "busy"), nio.PresenceSetResponse)
        r = await w.alice.get_presence(w.bob.user_id)
        assert_error(r, "M_FORBIDDEN", 403)
        assert_c4(await raw(w.alice, "GET", f"{V3}/presence/{w.bob.user_id}/status"))


async def test_C4_media_fetch(server, root):
    async with world(server, root) as w:
        s, bobs = await upload(w.bob, b"b's secret file")
        # 404, as for a media id that does not exist (not 403: the answer
        # must not confirm that the file exists in another organisation).
        for path in (f"{MEDIA_V1}/download/{s}/{bobs}",
                     f"{MEDIA_V1}/download/{s}/{bobs}/f.txt",
                     f"{MEDIA_V1}/thumbnail/{s}/{bobs}?width=32&height=32"):
            r = await raw(w.alice, "GET", path)
            assert r.status == 404, (path, r)
            assert r.json["errcode"] == "M_NOT_FOUND", r
        r = await raw(w.bob, "GET", f"{MEDIA_V1}/download/{s}/{bobs}")
        assert r.status == 200 and r.body == b"b's secret file", r
        # The legacy unauthenticated download (nio's) serves the default
        # tenant only: not even the uploader gets a tenant's file there.
        assert_error(await w.bob.download(f"mxc://{s}/{bobs}"), "M_NOT_FOUND", 404)
        default_user = create_user(root, "plain", "default")
        plain = await nio_login(server, default_user)
        try:
            _, public_file = await upload(plain, b"default tenant file")
            r = await w.alice.download(f"mxc://{s}/{public_file}")
            assert isinstance(r, nio.DownloadResponse), r
            assert r.body == b"default tenant file"
            # ...and the default tenant's users are another tenant to alice.
            r = await raw(w.alice, "GET", f"{MEDIA_V1}/download/{s}/{public_file}")
            assert r.status == 404, r
        finally:
            await plain.close()


async def test_C4_join_other_tenant_room_refused(server, root):
    async with world(server, root) as w:
        room = await public_room(w.bob, "bee public")
        assert_error(await w.alice.join(room), "M_FORBIDDEN", 403)
        assert_c4(await raw(w.alice, "POST", f"{V3}/join/{room}", {}))
        assert_c4(await raw(w.alice, "POST", f"{V3}/knock/{room}", {}))
        # Not through the state endpoint either.
        r = await w.alice.room_put_state(room, "m.room.member", {"membership": "join"},
                                         state_key=w.alice.user_id)
        assert_error(r, "M_FORBIDDEN", 403)
        # The room directory: each tenant sees its own rooms; anonymous
        # requests see the default tenant's only.
        a_room = await public_room(w.alice, "a public")
        alice_sees = await listed_rooms(w.alice)
        assert a_room in alice_sees and room not in alice_sees
        bob_sees = await listed_rooms(w.bob)
        assert room in bob_sees and a_room not in bob_sees
        anonymous = await listed_rooms(w.alice, token=False)
        assert room not in anonymous and a_room not in anonymous
        r = await raw(w.alice, "POST", f"{V3}/publicRooms", {"limit": 500})
        assert room not in {x["room_id"] for x in r.json["chunk"]}, r


async def test_C4_all_work_with_link(server, root):
    async with world(server, root) as w:
        bob_room = await public_room(w.bob, "bee public")
        s, bobs = await upload(w.bob, b"shared after linking")
        link(root, [w.admin_a, w.admin_b], w.a, w.b)

        # Directory search, profile.
        bob_local = w.bob.user_id[1:].split(":")[0]
        assert await search(w.alice, bob_local) == [w.bob.user_id]
        r = await w.alice.get_profile(w.bob.user_id)
        assert isinstance(r, nio.ProfileGetResponse), r
        assert r.displayname == bob_local
        # Invite (and createRoom's invite list).
        room = (await w.alice.room_create(invite=[w.bob.user_id])).room_id
        assert isinstance(await w.bob.join(room), nio.JoinResponse)
        # Join a public room of the other tenant; it is listed.
        assert bob_room in await listed_rooms(w.alice)
        assert isinstance(await w.alice.join(bob_room), nio.JoinResponse)
        assert isinstance(await w.alice.room_send(bob_room, "m.room.message",
                                                  {"msgtype": "m.text", "body": "hi b"}),
                          nio.RoomSendResponse)
        # Presence (they share rooms now).
        assert isinstance(await w.bob.set_presence("online", "busy"), nio.PresenceSetResponse)
        r = await w.alice.get_presence(w.bob.user_id)
        assert isinstance(r, nio.PresenceGetResponse), r
        assert r.status_msg == "busy"
        # Media.
        r = await raw(w.alice, "GET", f"{MEDIA_V1}/download/{s}/{bobs}")
        assert r.status == 200 and r.body == b"shared after linking", r

        # Removing the link: rooms already shared keep working...
        unlink(root, w.a, w.b)
        for c, body in ((w.alice, "still here"), (w.bob, "me too")):
            r = await c.room_send(bob_room, "m.room.message", {"msgtype": "m.text", "body": body})
            assert isinstance(r, nio.RoomSendResponse), r
        # ...but nobody new crosses.
        assert_error(await w.amy.join(bob_room), "M_FORBIDDEN", 403)
        assert_error(await w.alice.get_profile(w.bob.user_id), "M_FORBIDDEN", 403)
        assert await search(w.alice, bob_local) == []
