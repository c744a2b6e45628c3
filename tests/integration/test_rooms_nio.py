"""Rooms and sync with a real Matrix client (matrix-nio 0.20, Debian's
python3-matrix-nio) against a live vigie: two clients create a room, invite,
join and chat both ways through their sync loops; typing and read receipts
reach the other side; /messages pages back to the room's creation; kicks and
bans follow the power levels; redactions; a stored filter with lazy-loaded
members; and a room of 50 messages that survives SIGKILL.

nio speaks the legacy r0 paths with `?access_token=`, which vigie serves as
aliases of v3. Every wait is bounded: a missing event fails the test instead
of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from typing import Any, Callable, Optional

import nio
import pytest

PASSWORD = "correct horse battery"

# Never retry on 429 or timeouts: a test must see what the server answered.
NIO_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=20)

# How long one test waits for something to show up through /sync.
WAIT_S = 10.0


# --------------------------------------------------------------------------
# Helpers.


@contextlib.asynccontextmanager
async def logged_in(server, unique, *prefixes: str):
    """Registers one user per prefix (over HTTP, like the conftest helper) and
    logs each in with nio; yields the clients and closes them afterwards."""
    clients: list[nio.AsyncClient] = []
    try:
        for prefix in prefixes:
            localpart = unique(prefix)
            server.register(localpart, PASSWORD)
            c = nio.AsyncClient(server.url, user=localpart, config=NIO_CONFIG)
            clients.append(c)
            r = await c.login(PASSWORD, device_name=f"{prefix} (nio)")
            assert isinstance(r, nio.LoginResponse), r
        yield clients
    finally:
        for c in clients:
            await c.close()


async def login_again(server, user_id: str) -> nio.AsyncClient:
    """A second device of an existing user; the caller closes it."""
    c = nio.AsyncClient(server.url, user=user_id, config=NIO_CONFIG)
    r = await c.login(PASSWORD)
    assert isinstance(r, nio.LoginResponse), r
    return c


async def raw_get(c: nio.AsyncClient, path: str) -> tuple[int, Any]:
    """A GET nio 0.20 has no method for, through nio's own transport."""
    sep = "&" if "?" in path else "?"
    r = await c.send("GET", f"{path}{sep}access_token={c.access_token}")
    text = await r.text()
    return r.status, (json.loads(text) if text else None)


def ok(resp, cls):
    assert isinstance(resp, cls), resp
    return resp


def assert_error(resp, errcode: str, status: int) -> None:
    assert isinstance(resp, nio.ErrorResponse), resp
    assert resp.status_code == errcode, resp
    assert resp.transport_response.status == status, resp


async def sync_until(c: nio.AsyncClient, pred: Callable[[nio.SyncResponse], Any], what: str,
                     timeout: float = WAIT_S, sync_filter: Any = None) -> Any:
    """Long-polls /sync (from the client's last token) until pred(response)
    is truthy; returns that value. Fails after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError(f"{c.user_id}: timed out after {timeout}s waiting for {what}")
        r = await asyncio.wait_for(
            c.sync(timeout=int(min(1.0, left) * 1000), sync_filter=sync_filter), timeout=left + 5)
        assert isinstance(r, nio.SyncResponse), r
        v = pred(r)
        if v:
            return v


def timeline(r: nio.SyncResponse, room_id: str) -> list:
    room = r.rooms.join.get(room_id)
    return room.timeline.events if room else []


def message_from(r: nio.SyncResponse, room_id: str, body: str, sender: Optional[str] = None):
    for e in timeline(r, room_id):
        if isinstance(e, nio.RoomMessageText) and e.body == body and (sender is None or e.sender == sender):
            return e
    return None


async def room_of_two(alice: nio.AsyncClient, bob: nio.AsyncClient, **create: Any) -> str:
    """Alice creates a room and invites bob, who sees the invitation in his
    sync and joins; both have synced past it. Returns the room id."""
    await alice.sync(timeout=0)
    await bob.sync(timeout=0)
    r = ok(await alice.room_create(invite=[bob.user_id], **create), nio.RoomCreateResponse)
    room_id = r.room_id
    await sync_until(bob, lambda s: room_id in s.rooms.invite, "the invitation")
    ok(await bob.join(room_id), nio.JoinResponse)
    await sync_until(bob, lambda s: room_id in s.rooms.join, "the joined room")
    await sync_until(alice, lambda s: any(
        isinstance(e, nio.RoomMemberEvent) and e.state_key == bob.user_id
        and e.membership == "join" for e in timeline(s, room_id)), "bob's join")
    return room_id


async def all_messages(c: nio.AsyncClient, room_id: str, start: str, limit: int = 10,
                       max_pages: int = 100) -> list:
    """Pages /messages backwards from `start` until the server has no more;
    returns the events oldest first."""
    events: list = []
    token = start
    for _ in range(max_pages):
        r = ok(await c.room_messages(room_id, token, limit=limit), nio.RoomMessagesResponse)
        assert len(r.chunk) <= limit
        events.extend(r.chunk)
        if not r.chunk or not r.end or r.end == token:
            break
        token = r.end
    else:
        raise AssertionError(f"/messages did not end after {max_pages} pages")
    events.reverse()
    return events


# --------------------------------------------------------------------------
# Creating, inviting, joining, chatting.


async def test_create_invite_join_and_chat_both_ways(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        await alice.sync(timeout=0)
        await bob.sync(timeout=0)
        r = ok(await alice.room_create(name="Nio chat", topic="both ways"), nio.RoomCreateResponse)
        room_id = r.room_id
        assert room_id.startswith("!")
        await sync_until(alice, lambda s: room_id in s.rooms.join, "the new room")
        assert alice.rooms[room_id].name == "Nio chat"
        assert alice.rooms[room_id].topic == "both ways"

        ok(await alice.room_invite(room_id, bob.user_id), nio.RoomInviteResponse)
        invite = await sync_until(bob, lambda s: s.rooms.invite.get(room_id), "the invitation")
        # The stripped state names the room and the inviter.
        names = [e for e in invite.invite_state if isinstance(e, nio.InviteNameEvent)]
        assert names and names[0].name == "Nio chat"
        assert bob.invited_rooms[room_id].inviter == alice.user_id

        ok(await bob.join(room_id), nio.JoinResponse)
        await sync_until(bob, lambda s: room_id in s.rooms.join, "the joined room")
        assert bob.rooms[room_id].topic == "both ways"
        await sync_until(alice, lambda s: bob.user_id in alice.rooms[room_id].users, "bob in the room")

        members = ok(await alice.joined_members(room_id), nio.JoinedMembersResponse)
        assert sorted(m.user_id for m in members.members) == sorted([alice.user_id, bob.user_id])
        assert room_id in ok(await bob.joined_rooms(), nio.JoinedRoomsResponse).rooms

        # Alice to bob, bob to alice.
        sent = ok(await alice.room_send(room_id, "m.room.message",
                                        {"msgtype": "m.text", "body": "hello bob"}),
                  nio.RoomSendResponse)
        got = await sync_until(bob, lambda s: message_from(s, room_id, "hello bob"), "alice's message")
        assert got.event_id == sent.event_id and got.sender == alice.user_id
        sent = ok(await bob.room_send(room_id, "m.room.message",
                                      {"msgtype": "m.text", "body": "hi alice"}),
                  nio.RoomSendResponse)
        got = await sync_until(alice, lambda s: message_from(s, room_id, "hi alice"), "bob's message")
        assert got.event_id == sent.event_id and got.sender == bob.user_id


async def test_chat_through_sync_forever_loops(server, unique):
    """Both clients run nio's own sync_forever loop; callbacks collect what
    arrives. Ten messages each way, interleaved, arrive once, in order."""
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob)
        inbox: dict[str, asyncio.Queue] = {alice.user_id: asyncio.Queue(), bob.user_id: asyncio.Queue()}

        def collector(me: nio.AsyncClient):
            async def cb(room: nio.MatrixRoom, event: nio.RoomMessageText) -> None:
                if room.room_id == room_id and event.sender != me.user_id:
                    await inbox[me.user_id].put(event)
            return cb

        alice.add_event_callback(collector(alice), nio.RoomMessageText)
        bob.add_event_callback(collector(bob), nio.RoomMessageText)
        # nio does not fill the gap of a limited timeline: a timeline limit
        # above what can pile up between two syncs.
        no_gaps = {"room": {"timeline": {"limit": 100}}}
        loops = [asyncio.create_task(c.sync_forever(timeout=1000, sync_filter=no_gaps))
                 for c in (alice, bob)]
        try:
            sent: dict[str, list[str]] = {alice.user_id: [], bob.user_id: []}
            for i in range(10):
                for c in (alice, bob):
                    r = ok(await c.room_send(room_id, "m.room.message",
                                             {"msgtype": "m.text", "body": f"{c.user_id} #{i}"}),
                           nio.RoomSendResponse)
                    sent[c.user_id].append(r.event_id)

            async def receive(me: nio.AsyncClient, n: int) -> list[str]:
                out = []
                for _ in range(n):
                    e = await asyncio.wait_for(inbox[me.user_id].get(), WAIT_S)
                    out.append(e.event_id)
                return out

            assert await receive(alice, 10) == sent[bob.user_id]
            assert await receive(bob, 10) == sent[alice.user_id]
            await asyncio.sleep(0.5)
            assert inbox[alice.user_id].empty() and inbox[bob.user_id].empty(), "duplicates"
        finally:
            for t in loops:
                t.cancel()
            for t in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await t


async def test_state_with_an_empty_state_key(server, unique):
    """Topic through nio's room_put_state / room_get_state_event (which drop
    the empty state key from the path), seen by the other member."""
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob)
        ok(await alice.room_put_state(room_id, "m.room.topic", {"topic": "set by nio"}),
           nio.RoomPutStateResponse)
        got = ok(await bob.room_get_state_event(room_id, "m.room.topic"),
                 nio.RoomGetStateEventResponse)
        assert got.content == {"topic": "set by nio"}
        await sync_until(bob, lambda s: bob.rooms[room_id].topic == "set by nio", "the topic")
        # Bob (power 0) may not.
        assert_error(await bob.room_put_state(room_id, "m.room.topic", {"topic": "bob's"}),
                     "M_FORBIDDEN", 403)


# --------------------------------------------------------------------------
# Typing and read receipts.


async def test_typing_is_seen_by_the_other_member(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob)
        ok(await alice.room_typing(room_id, True, timeout=20000), nio.RoomTypingResponse)
        await sync_until(bob, lambda s: alice.user_id in bob.rooms[room_id].typing_users,
                         "alice typing")
        ok(await alice.room_typing(room_id, False), nio.RoomTypingResponse)
        await sync_until(bob, lambda s: alice.user_id not in bob.rooms[room_id].typing_users,
                         "alice to stop typing")
        # Typing expires by itself.
        ok(await bob.room_typing(room_id, True, timeout=1000), nio.RoomTypingResponse)
        await sync_until(alice, lambda s: bob.user_id in alice.rooms[room_id].typing_users,
                         "bob typing")
        await sync_until(alice, lambda s: bob.user_id not in alice.rooms[room_id].typing_users,
                         "bob's typing to expire")


async def test_typing_needs_membership(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = ok(await alice.room_create(), nio.RoomCreateResponse).room_id
        assert_error(await bob.room_typing(room_id, True, timeout=5000), "M_FORBIDDEN", 403)


async def test_read_receipts_are_seen_by_the_other_member(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob)
        sent = ok(await bob.room_send(room_id, "m.room.message",
                                      {"msgtype": "m.text", "body": "read me"}),
                  nio.RoomSendResponse)
        await sync_until(alice, lambda s: message_from(s, room_id, "read me"), "bob's message")
        ok(await alice.room_read_markers(room_id, sent.event_id, sent.event_id),
           nio.RoomReadMarkersResponse)

        def alice_read(s: nio.SyncResponse):
            for e in bob.rooms[room_id].read_receipts.values():
                if e.user_id == alice.user_id and e.event_id == sent.event_id:
                    return e
            return None

        receipt = await sync_until(bob, alice_read, "alice's read receipt")
        assert receipt.receipt_type == "m.read"
        assert isinstance(receipt.timestamp, int) and receipt.timestamp > 0

        # The fully-read marker is private: alice's room account data.
        def fully_read(s: nio.SyncResponse):
            room = s.rooms.join.get(room_id)
            for e in (room.account_data if room else []):
                if isinstance(e, nio.FullyReadEvent):
                    return e
            return None

        again = await login_again(server, alice.user_id)
        try:
            marker = await sync_until(again, fully_read, "alice's m.fully_read")
            assert marker.event_id == sent.event_id
        finally:
            await again.close()
        # ... which bob never sees.
        r = ok(await bob.sync(timeout=0, full_state=True), nio.SyncResponse)
        assert not [e for e in r.rooms.join[room_id].account_data if isinstance(e, nio.FullyReadEvent)]


async def test_unread_counts_follow_mentions_receipts_and_rejoins(server, unique):
    async with logged_in(server, unique, "alice", "bob", "carol") as (alice, bob, carol):
        for c in (alice, bob, carol):
            await c.sync(timeout=0)
        room_id = ok(await alice.room_create(preset=nio.RoomPreset.public_chat),
                     nio.RoomCreateResponse).room_id
        for c in (bob, carol):
            ok(await c.join(room_id), nio.JoinResponse)
            await sync_until(c, lambda s: room_id in s.rooms.join, "the joined room")

        def counts_are(want: tuple[int, int]):
            def pred(s: nio.SyncResponse):
                room = s.rooms.join.get(room_id)
                n = room.unread_notifications if room else None
                return n is not None and (n.notification_count, n.highlight_count) == want
            return pred

        async def say(body: str, **extra: Any) -> str:
            return ok(await alice.room_send(room_id, "m.room.message",
                                            {"msgtype": "m.text", "body": body, **extra}),
                      nio.RoomSendResponse).event_id

        await say("hello")
        mention = await say("hey bob", **{"m.mentions": {"user_ids": [bob.user_id]}})
        await sync_until(bob, counts_are((2, 1)), "bob's counts with a mention")
        await sync_until(carol, counts_are((2, 0)), "carol's counts")
        # A read receipt clears what it covers, for its reader only.
        ok(await bob.room_read_markers(room_id, mention, mention), nio.RoomReadMarkersResponse)
        await sync_until(bob, counts_are((0, 0)), "bob's counts after his receipt")
        # Nothing from before a rejoin counts, even what came while away.
        ok(await bob.room_leave(room_id), nio.RoomLeaveResponse)
        await say("while bob is away")
        ok(await bob.join(room_id), nio.JoinResponse)
        await sync_until(bob, counts_are((0, 0)), "bob's counts after rejoining")
        await say("welcome back")
        await sync_until(bob, counts_are((1, 0)), "bob's count of the new message")
        await sync_until(carol, counts_are((4, 0)), "carol's counts of everything")


# --------------------------------------------------------------------------
# History.


async def test_room_messages_pages_back_to_creation(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob, name="History")
        bodies = [f"line {i}" for i in range(25)]
        for b in bodies:
            ok(await alice.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": b}),
               nio.RoomSendResponse)
        # Bob's limited incremental sync gives a prev_batch to page back from.
        r = await sync_until(bob, lambda s: message_from(s, room_id, "line 24") and s,
                             "the last line", sync_filter={"room": {"timeline": {"limit": 3}}})
        room = r.rooms.join[room_id]
        assert room.timeline.limited
        assert len(room.timeline.events) == 3
        before = await all_messages(bob, room_id, room.timeline.prev_batch, limit=7)
        events = before + room.timeline.events
        # (nio 0.20 parses m.room.create without content.creator, which room
        # versions 11+ dropped, as a BadEvent: hence .source.)
        assert events[0].source["type"] == "m.room.create", events[0]
        assert events[0].source["sender"] == alice.user_id
        got = [e.body for e in events if isinstance(e, nio.RoomMessageText)]
        assert got == bodies
        ids = [e.event_id for e in events]
        assert len(set(ids)) == len(ids), "no event twice"

        # Forwards from the start (no `from`, which nio cannot leave out) gives
        # the same events in the same order.
        status, forward = await raw_get(
            bob, f"/_matrix/client/r0/rooms/{urllib.parse.quote(room_id)}/messages?dir=f&limit=1000")
        assert status == 200, forward
        assert [e["event_id"] for e in forward["chunk"]] == ids


async def test_room_messages_refused_to_non_members(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = ok(await alice.room_create(), nio.RoomCreateResponse).room_id
        r = ok(await alice.sync(timeout=0), nio.SyncResponse)
        token = r.rooms.join[room_id].timeline.prev_batch
        assert_error(await bob.room_messages(room_id, token), "M_FORBIDDEN", 403)


# --------------------------------------------------------------------------
# Kick, ban, redaction.


async def test_kick_and_ban_follow_power_levels(server, unique):
    async with logged_in(server, unique, "alice", "bob", "carol") as (alice, bob, carol):
        room_id = await room_of_two(alice, bob)
        ok(await alice.room_invite(room_id, carol.user_id), nio.RoomInviteResponse)
        ok(await carol.join(room_id), nio.JoinResponse)
        await sync_until(carol, lambda s: room_id in s.rooms.join, "carol's room")

        # Bob has power 0; kick and ban need 50.
        assert_error(await bob.room_kick(room_id, carol.user_id, "no"), "M_FORBIDDEN", 403)
        assert_error(await bob.room_ban(room_id, carol.user_id, "no"), "M_FORBIDDEN", 403)
        assert_error(await bob.room_kick(room_id, alice.user_id), "M_FORBIDDEN", 403)
        members = ok(await alice.joined_members(room_id), nio.JoinedMembersResponse)
        assert len(members.members) == 3

        # Alice created the room: she may.
        ok(await alice.room_kick(room_id, carol.user_id, "be nice"), nio.RoomKickResponse)
        left = await sync_until(carol, lambda s: s.rooms.leave.get(room_id), "carol's kick")
        kick = [e for e in left.timeline.events
                if isinstance(e, nio.RoomMemberEvent) and e.state_key == carol.user_id][-1]
        assert kick.membership == "leave" and kick.sender == alice.user_id
        assert kick.content.get("reason") == "be nice"
        assert_error(await carol.room_send(room_id, "m.room.message",
                                           {"msgtype": "m.text", "body": "hey"}),
                     "M_FORBIDDEN", 403)

        ok(await alice.room_ban(room_id, bob.user_id, "spam"), nio.RoomBanResponse)
        await sync_until(bob, lambda s: room_id in s.rooms.leave, "bob's ban")
        ban = ok(await alice.room_get_state_event(room_id, "m.room.member", bob.user_id),
                 nio.RoomGetStateEventResponse)
        assert ban.content["membership"] == "ban" and ban.content.get("reason") == "spam"
        assert_error(await bob.join(room_id), "M_FORBIDDEN", 403)
        assert_error(await alice.room_invite(room_id, bob.user_id), "M_FORBIDDEN", 403)
        members = ok(await alice.joined_members(room_id), nio.JoinedMembersResponse)
        assert [m.user_id for m in members.members] == [alice.user_id]


async def test_redaction(server, unique):
    async with logged_in(server, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob)
        sent = ok(await alice.room_send(room_id, "m.room.message",
                                        {"msgtype": "m.text", "body": "secret"}),
                  nio.RoomSendResponse)
        await sync_until(bob, lambda s: message_from(s, room_id, "secret"), "the secret")

        # Bob (power 0; redact is 50) may not redact alice's event.
        assert_error(await bob.room_redact(room_id, sent.event_id, "no"), "M_FORBIDDEN", 403)

        red = ok(await alice.room_redact(room_id, sent.event_id, "oops"), nio.RoomRedactResponse)
        ev = await sync_until(bob, lambda s: next(
            (e for e in timeline(s, room_id) if isinstance(e, nio.RedactionEvent)), None),
            "the redaction")
        assert ev.event_id == red.event_id
        assert ev.redacts == sent.event_id
        assert ev.sender == alice.user_id and ev.reason == "oops"

        # (nio only makes a RedactedEvent of it once redacted_because is a whole
        # event: see test_redacted_because_is_the_redaction_event.)
        got = ok(await bob.room_get_event(room_id, sent.event_id), nio.RoomGetEventResponse)
        assert got.event.source["content"] == {}
        assert got.event.source["unsigned"]["redacted_because"]["event_id"] == red.event_id

        # Bob's own message: his to redact.
        mine = ok(await bob.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "mine"}),
                  nio.RoomSendResponse)
        ok(await bob.room_redact(room_id, mine.event_id), nio.RoomRedactResponse)
        # A fresh initial sync shows both redacted.
        again = await login_again(server, bob.user_id)
        try:
            r = ok(await again.sync(timeout=0), nio.SyncResponse)
            by_id = {e.event_id: e for e in r.rooms.join[room_id].timeline.events}
            for eid in (sent.event_id, mine.event_id):
                assert by_id[eid].source["content"] == {}, by_id[eid]
                assert "redacted_because" in by_id[eid].source["unsigned"]
        finally:
            await again.close()


async def test_redacted_because_is_the_redaction_event(server, unique):
    async with logged_in(server, unique, "alice") as (alice,):
        room_id = ok(await alice.room_create(), nio.RoomCreateResponse).room_id
        sent = ok(await alice.room_send(room_id, "m.room.message",
                                        {"msgtype": "m.text", "body": "x"}), nio.RoomSendResponse)
        ok(await alice.room_redact(room_id, sent.event_id, "why"), nio.RoomRedactResponse)
        got = ok(await alice.room_get_event(room_id, sent.event_id), nio.RoomGetEventResponse)
        # nio's RedactedEvent takes the redacter and the reason from it.
        assert isinstance(got.event, nio.RedactedEvent), got.event
        assert got.event.redacter == alice.user_id
        assert got.event.reason == "why"


# --------------------------------------------------------------------------
# Filters and lazy loading.


async def test_stored_filter_with_lazy_loading(server, unique):
    async with logged_in(server, unique, "alice", "bob", "q1", "q2", "q3") as clients:
        alice, bob, *quiet = clients
        room_id = await room_of_two(alice, bob)
        for q in quiet:
            ok(await alice.room_invite(room_id, q.user_id), nio.RoomInviteResponse)
            ok(await q.join(room_id), nio.JoinResponse)
        for i in range(8):
            c = (alice, bob)[i % 2]
            ok(await c.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": f"c{i}"}),
               nio.RoomSendResponse)
        everyone = sorted(c.user_id for c in clients)

        up = ok(await alice.upload_filter(room={
            "timeline": {"limit": 4},
            "state": {"lazy_load_members": True},
        }), nio.UploadFilterResponse)
        assert up.filter_id

        # The stored filter reads back as it was stored.
        status, stored = await raw_get(alice, f"/_matrix/client/r0/user/{alice.user_id}/filter/{up.filter_id}")
        assert status == 200, stored
        assert stored["room"] == {"timeline": {"limit": 4}, "state": {"lazy_load_members": True}}

        lazy = await login_again(server, alice.user_id)
        eager = await login_again(server, alice.user_id)
        try:
            r = ok(await lazy.sync(timeout=0, sync_filter=up.filter_id), nio.SyncResponse)
            room = r.rooms.join[room_id]
            assert [e.body for e in room.timeline.events] == ["c4", "c5", "c6", "c7"]
            assert room.timeline.limited
            members = sorted(e.state_key for e in room.state if isinstance(e, nio.RoomMemberEvent))
            assert members == sorted([alice.user_id, bob.user_id]), members
            # The summary still counts everyone.
            assert room.summary.joined_member_count == len(everyone)
            assert lazy.rooms[room_id].joined_count == len(everyone)

            # An inline filter without lazy loading: every member.
            r = ok(await eager.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 4}}}),
                   nio.SyncResponse)
            members = sorted(e.state_key for e in r.rooms.join[room_id].state
                             if isinstance(e, nio.RoomMemberEvent))
            assert members == everyone

            # Incremental syncs with the stored filter keep its timeline limit.
            for i in range(6):
                ok(await quiet[0].room_send(room_id, "m.room.message",
                                            {"msgtype": "m.text", "body": f"q{i}"}),
                   nio.RoomSendResponse)
            s = await sync_until(lazy, lambda s: message_from(s, room_id, "q5") and s,
                                 "the quiet member's messages", sync_filter=up.filter_id)
            room = s.rooms.join[room_id]
            assert room.timeline.limited
            assert [e.body for e in room.timeline.events] == ["q2", "q3", "q4", "q5"]
        finally:
            await lazy.close()
            await eager.close()


async def test_unknown_filter_id(server, unique):
    async with logged_in(server, unique, "alice") as (alice,):
        r = await alice.sync(timeout=0, sync_filter="987654321")
        assert_error(r, "M_NOT_FOUND", 404)


# --------------------------------------------------------------------------
# Durability.


async def test_sigterm_with_a_sync_long_poll_in_flight_exits_promptly(server_factory, unique):
    s = server_factory()
    async with logged_in(s, unique, "alice") as (alice,):
        ok(await alice.sync(timeout=0), nio.SyncResponse)
        poll = asyncio.create_task(alice.sync(timeout=60000))
        await asyncio.sleep(0.5)
        assert not poll.done()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        elapsed = await loop.run_in_executor(None, s.stop)
        poll.cancel()
        with contextlib.suppress(BaseException):
            await poll
        assert elapsed < 3, f"SIGTERM took {elapsed:.1f}s with a /sync long-poll in flight"
        assert loop.time() - t0 < 5



async def test_room_of_50_messages_survives_sigkill(server_factory, unique):
    s = server_factory()
    async with logged_in(s, unique, "alice", "bob") as (alice, bob):
        room_id = await room_of_two(alice, bob, name="Durable")
        sent = []
        for i in range(50):
            c = (alice, bob)[i % 3 == 2]
            r = ok(await c.room_send(room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": f"durable {i}"},
                                     tx_id=f"durable-{i}"),
                   nio.RoomSendResponse)
            sent.append(r.event_id)
        alice_id, bob_id = alice.user_id, bob.user_id
        alice_device, alice_token = alice.device_id, alice.access_token

    s.kill()  # SIGKILL: no shutdown code runs
    s.start()

    c = await login_again(s, alice_id)
    try:
        r = ok(await c.sync(timeout=0, sync_filter={"room": {"timeline": {"limit": 5}}}),
               nio.SyncResponse)
        assert room_id in r.rooms.join, "the room survived"
        room = r.rooms.join[room_id]
        assert c.rooms[room_id].name == "Durable"
        events = await all_messages(c, room_id, room.timeline.prev_batch, limit=20) + room.timeline.events
        assert events[0].source["type"] == "m.room.create", events[0]
        msgs = [e for e in events if isinstance(e, nio.RoomMessageText)]
        assert [e.event_id for e in msgs] == sent
        assert [e.body for e in msgs] == [f"durable {i}" for i in range(50)]
        members = ok(await c.joined_members(room_id), nio.JoinedMembersResponse)
        assert sorted(m.user_id for m in members.members) == sorted([alice_id, bob_id])
        # The server still takes new messages after the crash, after the old ones.
        more = ok(await c.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "after"}),
                  nio.RoomSendResponse)
        await sync_until(c, lambda r: message_from(r, room_id, "after"), "the new message")
        r = ok(await c.room_messages(room_id, c.next_batch, limit=2), nio.RoomMessagesResponse)
        assert [e.event_id for e in r.chunk] == [more.event_id, sent[-1]]
    finally:
        await c.close()

    # The device from before the crash still works, and its transaction ids
    # are remembered: a retry of the last send is the same event.
    c = nio.AsyncClient(s.url, config=NIO_CONFIG)
    try:
        c.restore_login(alice_id, alice_device, alice_token)
        again = ok(await c.room_send(room_id, "m.room.message",
                                     {"msgtype": "m.text", "body": "durable 48"}, tx_id="durable-48"),
                   nio.RoomSendResponse)
        assert again.event_id == sent[48]
    finally:
        await c.close()
