"""End-to-end encryption with a real client (matrix-nio with python3-olm)
against a live vigie: Alice and Bob upload device and one-time keys, Alice
creates an encrypted room and invites Bob, nio claims Bob's one-time key,
shares its Megolm session over to-device Olm messages, and Bob decrypts
Alice's message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable

import nio
import pytest

PASSWORD = "correct horse battery"
WAIT_S = 15.0


def config() -> nio.AsyncClientConfig:
    return nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=20,
                                 encryption_enabled=True, store_sync_tokens=False)


@contextlib.asynccontextmanager
async def encrypted_clients(server, unique, tmp_path, *prefixes: str):
    clients: list[nio.AsyncClient] = []
    try:
        for prefix in prefixes:
            localpart = unique(prefix)
            server.register(localpart, PASSWORD)
            store = tmp_path / f"store-{prefix}"
            store.mkdir()
            c = nio.AsyncClient(server.url, user=localpart, store_path=str(store), config=config())
            clients.append(c)
            r = await c.login(PASSWORD, device_name=f"{prefix} (nio e2e)")
            assert isinstance(r, nio.LoginResponse), r
            assert c.olm is not None
        yield clients
    finally:
        for c in clients:
            await c.close()


async def sync_until(c: nio.AsyncClient, pred: Callable[[nio.SyncResponse], Any], what: str,
                     timeout: float = WAIT_S) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"{c.user_id}: timed out after {timeout}s waiting for {what}")
        r = await asyncio.wait_for(c.sync(timeout=int(min(1.0, left) * 1000)), timeout=left + 5)
        assert isinstance(r, nio.SyncResponse), r
        if c.should_upload_keys:
            assert isinstance(await c.keys_upload(), nio.KeysUploadResponse)
        v = pred(r)
        if v:
            return v


def timeline(r: nio.SyncResponse, room_id: str) -> list:
    room = r.rooms.join.get(room_id)
    return room.timeline.events if room else []


async def test_bob_decrypts_alices_message(server, unique, tmp_path):
    async with encrypted_clients(server, unique, tmp_path, "alice", "bob") as (alice, bob):
        for c in (alice, bob):
            await c.sync(timeout=0)
            assert c.should_upload_keys
            r = await c.keys_upload()
            assert isinstance(r, nio.KeysUploadResponse), r
            assert r.signed_curve25519_count > 0
            await c.sync(timeout=0)
            assert not c.should_upload_keys

        encryption = {"type": "m.room.encryption", "state_key": "",
                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        r = await alice.room_create(invite=[bob.user_id], initial_state=[encryption])
        assert isinstance(r, nio.RoomCreateResponse), r
        room_id = r.room_id
        await sync_until(bob, lambda s: room_id in s.rooms.invite, "the invitation")
        assert isinstance(await bob.join(room_id), nio.JoinResponse)
        await sync_until(alice, lambda s: bob.user_id in alice.rooms[room_id].users, "bob's join")
        assert alice.rooms[room_id].encrypted

        # Alice learns Bob's device keys.
        if alice.should_query_keys:
            assert isinstance(await alice.keys_query(), nio.KeysQueryResponse)
        assert bob.device_id in alice.device_store[bob.user_id]

        sent = await alice.room_send(room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": "secret hello"},
                                     ignore_unverified_devices=True)
        assert isinstance(sent, nio.RoomSendResponse), sent

        def decrypted(s: nio.SyncResponse):
            for e in timeline(s, room_id):
                if e.event_id == sent.event_id:
                    return e
            return None

        got = await sync_until(bob, decrypted, "alice's encrypted message")
        assert isinstance(got, nio.RoomMessageText), got
        assert got.body == "secret hello"
        assert got.decrypted and got.sender == alice.user_id
