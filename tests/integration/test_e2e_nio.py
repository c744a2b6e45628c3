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


async def upload_keys(*clients: nio.AsyncClient) -> None:
    for c in clients:
        await c.sync(timeout=0)
        assert c.should_upload_keys
        r = await c.keys_upload()
        assert isinstance(r, nio.KeysUploadResponse), r
        assert r.signed_curve25519_count > 0
        await c.sync(timeout=0)
        assert not c.should_upload_keys


async def encrypted_room(alice: nio.AsyncClient, bob: nio.AsyncClient) -> str:
    """Alice creates an encrypted room, Bob joins it; returns its id."""
    encryption = {"type": "m.room.encryption", "state_key": "",
                  "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
    r = await alice.room_create(invite=[bob.user_id], initial_state=[encryption])
    assert isinstance(r, nio.RoomCreateResponse), r
    room_id = r.room_id
    await sync_until(bob, lambda s: room_id in s.rooms.invite, "the invitation")
    assert isinstance(await bob.join(room_id), nio.JoinResponse)
    await sync_until(alice, lambda s: bob.user_id in alice.rooms[room_id].users, "bob's join")
    assert alice.rooms[room_id].encrypted
    return room_id


async def send_secret(alice: nio.AsyncClient, room_id: str, body: str) -> str:
    sent = await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                 ignore_unverified_devices=True)
    assert isinstance(sent, nio.RoomSendResponse), sent
    return sent.event_id


async def receive_decrypted(c: nio.AsyncClient, room_id: str, event_id: str,
                            sender: str) -> str:
    def decrypted(s: nio.SyncResponse):
        for e in timeline(s, room_id):
            if e.event_id == event_id:
                return e
        return None

    got = await sync_until(c, decrypted, f"event {event_id}")
    assert isinstance(got, nio.RoomMessageText), got
    assert got.decrypted and got.sender == sender
    return got.body


async def test_bob_decrypts_alices_message(server, unique, tmp_path):
    async with encrypted_clients(server, unique, tmp_path, "alice", "bob") as (alice, bob):
        await upload_keys(alice, bob)
        room_id = await encrypted_room(alice, bob)

        # Alice learns Bob's device keys.
        if alice.should_query_keys:
            assert isinstance(await alice.keys_query(), nio.KeysQueryResponse)
        assert bob.device_id in alice.device_store[bob.user_id]

        event_id = await send_secret(alice, room_id, "secret hello")
        assert await receive_decrypted(bob, room_id, event_id, alice.user_id) == "secret hello"


async def test_a_new_device_is_announced_encrypted_for_and_gets_to_device_once(
        server, unique, tmp_path):
    async with encrypted_clients(server, unique, tmp_path, "alice", "bob") as (alice, bob):
        await upload_keys(alice, bob)
        room_id = await encrypted_room(alice, bob)
        if alice.should_query_keys:
            assert isinstance(await alice.keys_query(), nio.KeysQueryResponse)
        first = await send_secret(alice, room_id, "before the new device")
        assert await receive_decrypted(bob, room_id, first, alice.user_id) \
            == "before the new device"

        # Bob logs in a second device with its own keys.
        store = tmp_path / "store-bob2"
        store.mkdir()
        bob2 = nio.AsyncClient(server.url, user=bob.user, store_path=str(store), config=config())
        try:
            r = await bob2.login(PASSWORD, device_name="bob's second device (nio e2e)")
            assert isinstance(r, nio.LoginResponse), r
            assert bob2.device_id != bob.device_id
            await upload_keys(bob2)

            # Alice's sync names Bob in device_lists.changed; her key query
            # then returns the new device.
            await sync_until(alice, lambda s: bob.user_id in s.device_list.changed,
                             "bob in device_lists.changed")
            assert alice.should_query_keys
            assert isinstance(await alice.keys_query(), nio.KeysQueryResponse)
            assert bob2.device_id in alice.device_store[bob.user_id]

            # Alice starts a new Megolm session (as clients do when the
            # room's devices change); it is shared with both of Bob's
            # devices, and the new one decrypts.
            alice.invalidate_outbound_session(room_id)
            second = await send_secret(alice, room_id, "after the new device")
            assert await receive_decrypted(bob2, room_id, second, alice.user_id) \
                == "after the new device"
            assert await receive_decrypted(bob, room_id, second, alice.user_id) \
                == "after the new device"

            # A to-device message, sent twice with one transaction id, reaches
            # bob2 exactly once, and never again on later syncs. nio keeps
            # only the to-device types it knows: a verification cancel for
            # a transaction bob2 never started is one it parses and ignores.
            nonce = unique("txn")
            msg = nio.ToDeviceMessage("m.key.verification.cancel", bob.user_id, bob2.device_id,
                                      {"transaction_id": nonce, "code": "m.user",
                                       "reason": "vigie to-device test"})
            for _ in range(2):
                assert isinstance(await alice.to_device(msg, tx_id=nonce),
                                  nio.ToDeviceResponse)
            seen = 0
            for _ in range(4):
                s = await bob2.sync(timeout=500)
                assert isinstance(s, nio.SyncResponse), s
                seen += sum(1 for e in s.to_device_events
                            if isinstance(e, nio.KeyVerificationCancel)
                            and e.transaction_id == nonce and e.sender == alice.user_id)
            assert seen == 1
        finally:
            await bob2.close()
