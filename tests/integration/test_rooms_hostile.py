"""Hostile input to the room and sync endpoints of a live vigie, over raw
HTTP: oversized events, state keys and senders that are not the requester's,
power-level escalation, bad filters, replayed transaction ids, rooms one is
not in, malformed room ids, event types and sync tokens.

Every refusal must leave nothing behind: what a room holds is checked
through /messages afterwards. No request may be answered with a 5xx.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, Optional

import pytest

from conftest import Resp, VigieServer

PASSWORD = "correct horse battery"
V3 = "/_matrix/client/v3"
# The PDU size limit of the Matrix spec, which vigie applies to the whole
# signed event.
MAX_PDU = 65536


def q(s: str) -> str:
    return urllib.parse.quote(s, safe="")


class User:
    """A registered user of a server, with raw-HTTP helpers."""

    def __init__(self, server: VigieServer, localpart: str):
        self.server = server
        reg = server.register(localpart, PASSWORD)
        self.user_id: str = reg["user_id"]
        self.token: str = reg["access_token"]
        self.device_id: str = reg["device_id"]

    def req(self, method: str, path: str, body: Any = None, *, raw: Optional[bytes] = None,
            token: Optional[str] = None) -> Resp:
        r = self.server.request(method, path, body, body=raw,
                                token=self.token if token is None else token)
        assert r.status < 500, r
        return r

    def create_room(self, **body: Any) -> str:
        r = self.req("POST", f"{V3}/createRoom", body)
        assert r.status == 200, r
        return r.json["room_id"]

    def invite(self, room_id: str, user: "User") -> None:
        r = self.req("POST", f"{V3}/rooms/{q(room_id)}/invite", {"user_id": user.user_id})
        assert r.status == 200, r

    def join(self, room_id: str) -> None:
        r = self.req("POST", f"{V3}/join/{q(room_id)}", {})
        assert r.status == 200, r

    def send(self, room_id: str, content: Any, txn: str, type_: str = "m.room.message") -> Resp:
        return self.req("PUT", f"{V3}/rooms/{q(room_id)}/send/{q(type_)}/{q(txn)}", content)

    def put_state(self, room_id: str, type_: str, state_key: str, content: Any) -> Resp:
        path = f"{V3}/rooms/{q(room_id)}/state/{q(type_)}"
        if state_key:
            path += f"/{q(state_key)}"
        return self.req("PUT", path, content)

    def get_state(self, room_id: str, type_: str, state_key: str = "") -> Resp:
        path = f"{V3}/rooms/{q(room_id)}/state/{q(type_)}"
        if state_key:
            path += f"/{q(state_key)}"
        return self.req("GET", path)

    def event(self, room_id: str, event_id: str) -> dict:
        r = self.req("GET", f"{V3}/rooms/{q(room_id)}/event/{q(event_id)}")
        assert r.status == 200, r
        return r.json

    def messages(self, room_id: str, limit: int = 100) -> list[dict]:
        """The room's latest events, newest first, through /messages from the
        current position of /sync."""
        flt = q(json.dumps({"room": {"timeline": {"limit": 1}}}))
        r = self.req("GET", f"{V3}/sync?timeout=0&filter={flt}")
        assert r.status == 200, r
        since = r.json["next_batch"]
        r = self.req("GET", f"{V3}/rooms/{q(room_id)}/messages?dir=b&limit={limit}&from={q(since)}")
        assert r.status == 200, r
        return r.json["chunk"]


def assert_error(r: Resp, status: int, errcode: str) -> dict:
    assert r.status == status, r
    assert r.json["errcode"] == errcode, r
    assert isinstance(r.json.get("error"), str), r
    return r.json


@pytest.fixture
def users(server, unique):
    """users("alice", "bob") -> fresh User objects on the module's server."""
    return lambda *prefixes: [User(server, unique(p)) for p in prefixes]


@pytest.fixture
def room(users):
    """A private room of alice (the creator) and bob (a plain member, power 0)."""
    alice, bob = users("alice", "bob")
    room_id = alice.create_room(name="hostile")
    alice.invite(room_id, bob)
    bob.join(room_id)
    return room_id, alice, bob


def message_count(user: User, room_id: str) -> int:
    return sum(1 for e in user.messages(room_id) if e["type"] == "m.room.message")


# --------------------------------------------------------------------------
# Size.


def test_event_over_64_kib_is_refused_and_not_stored(room):
    room_id, alice, _ = room
    assert alice.send(room_id, {"msgtype": "m.text", "body": "before"}, "before").status == 200
    # The request body fits under max_body_bytes (64 KiB), the signed event
    # (hashes, signatures, ids, auth_events...) does not.
    body = "x" * (MAX_PDU - 400)
    raw = json.dumps({"msgtype": "m.text", "body": body}).encode()
    assert len(raw) < MAX_PDU
    r = alice.req("PUT", f"{V3}/rooms/{q(room_id)}/send/m.room.message/big1", raw=raw)
    assert_error(r, 413, "M_TOO_LARGE")
    # Nothing stored: the latest message is still the one before, and the
    # transaction id was not consumed by the failure.
    msgs = [e for e in alice.messages(room_id) if e["type"] == "m.room.message"]
    assert msgs[0]["content"]["body"] == "before"
    assert all(len(e["content"].get("body", "")) < 1000 for e in msgs)
    r = alice.send(room_id, {"msgtype": "m.text", "body": "small"}, "big1")
    assert r.status == 200, r
    assert alice.messages(room_id)[0]["event_id"] == r.json["event_id"]


def test_event_just_under_the_limit_is_accepted(room):
    room_id, alice, bob = room
    body = "y" * (MAX_PDU - 3000)
    r = alice.send(room_id, {"msgtype": "m.text", "body": body}, "under")
    assert r.status == 200, r
    assert bob.event(room_id, r.json["event_id"])["content"]["body"] == body


def test_deeply_nested_content_is_served_to_every_member(room):
    """Content as deep as a request may nest (64 levels in all) is stored and
    comes back whole through every way of reading it: a parse of the stored
    event with a shallower bound would fail every member's sync of the room."""
    room_id, alice, bob = room
    flt = q(json.dumps({"room": {"timeline": {"limit": 5}}}))
    r = bob.req("GET", f"{V3}/sync?timeout=0&filter={flt}")
    assert r.status == 200, r
    since = r.json["next_batch"]
    deep: Any = "bottom"
    for _ in range(60):
        deep = [deep]
    r = alice.send(room_id, {"msgtype": "m.text", "body": "deep", "d": deep}, "deep1")
    assert r.status == 200, r
    event_id = r.json["event_id"]
    r = bob.req("GET", f"{V3}/sync?timeout=5000&filter={flt}&since={q(since)}")
    assert r.status == 200, r
    timeline = r.json["rooms"]["join"][room_id]["timeline"]["events"]
    assert [e["content"]["d"] for e in timeline if e["event_id"] == event_id] == [deep]
    r = bob.req("GET", f"{V3}/sync?timeout=0&filter={flt}")  # an initial sync
    assert r.status == 200, r
    assert bob.event(room_id, event_id)["content"]["d"] == deep
    assert [e["content"]["d"] for e in bob.messages(room_id) if e["event_id"] == event_id] == [deep]
    # State too: it is read back to authorise every later event of the room.
    r = alice.put_state(room_id, "m.room.topic", "", {"topic": "deep", "d": deep})
    assert r.status == 200, r
    assert alice.send(room_id, {"msgtype": "m.text", "body": "after"}, "deep2").status == 200
    assert bob.get_state(room_id, "m.room.topic").json["d"] == deep
    r = bob.req("GET", f"{V3}/sync?timeout=0")
    assert r.status == 200, r
    joined = r.json["rooms"]["join"][room_id]
    topics = [e for e in joined["state"]["events"] + joined["timeline"]["events"]
              if e["type"] == "m.room.topic"]
    assert topics and topics[-1]["content"]["d"] == deep


def test_deeply_nested_to_device_and_account_data_do_not_break_sync(users):
    """What one user stores nested deep (a to-device message for another,
    their own account data) is served back whole by /sync, not a 500 that
    every later sync of its receiver repeats."""
    alice, bob = users("alice", "bob")
    deep: Any = {"leaf": 1}
    for _ in range(55):
        deep = [deep]
    r = bob.req("GET", f"{V3}/sync?timeout=0")
    assert r.status == 200, r
    since = r.json["next_batch"]
    body = {"messages": {bob.user_id: {"*": {"d": deep}}}}
    r = alice.req("PUT", f"{V3}/sendToDevice/m.test.deep/t1", body)
    assert r.status == 200, r
    r = bob.req("PUT", f"{V3}/user/{q(bob.user_id)}/account_data/m.test.deep", {"d": deep})
    assert r.status == 200, r
    r = bob.req("GET", f"{V3}/sync?timeout=0&since={q(since)}")
    assert r.status == 200, r
    to_device = [e for e in r.json["to_device"]["events"] if e["type"] == "m.test.deep"]
    assert [e["content"]["d"] for e in to_device] == [deep]
    account = [e for e in r.json["account_data"]["events"] if e["type"] == "m.test.deep"]
    assert [e["content"]["d"] for e in account] == [deep]
    r = bob.req("GET", f"{V3}/user/{q(bob.user_id)}/account_data/m.test.deep")
    assert r.status == 200 and r.json["d"] == deep, r


def test_oversized_events_with_a_large_body_limit(server_factory, unique):
    """With max_body_bytes raised, the 64 KiB PDU limit still holds, for
    messages and state events alike."""
    s = server_factory({"limits": {"max_body_bytes": 1 << 20}})
    alice = User(s, unique("alice"))
    room_id = alice.create_room()
    before = alice.messages(room_id)
    big = {"msgtype": "m.text", "body": "z" * 100_000}
    assert_error(alice.send(room_id, big, "t1"), 413, "M_TOO_LARGE")
    assert_error(alice.put_state(room_id, "org.vigie.big", "k", {"v": "z" * 100_000}),
                 413, "M_TOO_LARGE")
    # Many small keys rather than one long string.
    many = {f"k{i:05d}": i for i in range(8000)}
    assert len(json.dumps(many)) > MAX_PDU
    assert_error(alice.send(room_id, many, "t2", "org.vigie.many"), 413, "M_TOO_LARGE")
    assert [e["event_id"] for e in alice.messages(room_id)] == [e["event_id"] for e in before]
    assert alice.get_state(room_id, "org.vigie.big", "k").status == 404


def test_overlong_state_key_and_event_type(room):
    room_id, alice, _ = room
    before = alice.messages(room_id)
    r = alice.put_state(room_id, "org.vigie.s", "k" * 300, {"v": 1})
    assert r.status in (400, 413), r
    r = alice.send(room_id, {"v": 1}, "longtype", "t" * 300)
    assert_error(r, 400, "M_INVALID_PARAM")
    assert [e["event_id"] for e in alice.messages(room_id)] == [e["event_id"] for e in before]


# --------------------------------------------------------------------------
# State keys and senders.


def test_member_state_for_another_user_is_forbidden(room, users):
    room_id, alice, bob = room
    (carol,) = users("carol")
    before = alice.messages(room_id)
    # Bob may not write alice's, or a stranger's, membership.
    for target, membership in [(alice.user_id, "leave"), (alice.user_id, "join"),
                               (carol.user_id, "join"), (carol.user_id, "invite")]:
        r = bob.put_state(room_id, "m.room.member", target, {"membership": membership})
        assert_error(r, 403, "M_FORBIDDEN")
    # Even the creator may not write others' membership through /state.
    assert_error(alice.put_state(room_id, "m.room.member", bob.user_id, {"membership": "ban"}),
                 403, "M_FORBIDDEN")
    assert_error(alice.put_state(room_id, "m.room.member", carol.user_id, {"membership": "join"}),
                 403, "M_FORBIDDEN")
    # Nor change their own membership that way.
    assert_error(bob.put_state(room_id, "m.room.member", bob.user_id, {"membership": "leave"}),
                 403, "M_FORBIDDEN")
    # A state key that is not a user id at all.
    assert_error(bob.put_state(room_id, "m.room.member", "not-a-user", {"membership": "join"}),
                 403, "M_FORBIDDEN")
    assert [e["event_id"] for e in alice.messages(room_id)] == [e["event_id"] for e in before]
    r = alice.req("GET", f"{V3}/rooms/{q(room_id)}/joined_members")
    assert sorted(r.json["joined"]) == sorted([alice.user_id, bob.user_id])
    # Updating one's own profile in the room is allowed.
    r = bob.put_state(room_id, "m.room.member", bob.user_id,
                      {"membership": "join", "displayname": "Bob in here"})
    assert r.status == 200, r
    assert bob.get_state(room_id, "m.room.member", bob.user_id).json["displayname"] == "Bob in here"


def test_forged_sender_and_ids_in_the_body_are_ignored(room, users):
    room_id, alice, bob = room
    (carol,) = users("carol")
    forged = {
        "msgtype": "m.text", "body": "who am i",
        "sender": alice.user_id, "user_id": alice.user_id, "event_id": "$forged",
        "room_id": "!elsewhere", "type": "m.room.power_levels", "state_key": "",
        "origin_server_ts": 1, "unsigned": {"age": 1}, "redacts": "$x",
        "auth_events": [], "prev_events": [], "depth": 1, "hashes": {}, "signatures": {},
    }
    r = bob.send(room_id, forged, "forge1")
    assert r.status == 200, r
    ev = alice.event(room_id, r.json["event_id"])
    assert ev["sender"] == bob.user_id
    assert ev["type"] == "m.room.message"
    assert ev["event_id"] == r.json["event_id"] != "$forged"
    assert ev["room_id"] == room_id
    assert "state_key" not in ev and "redacts" not in ev
    assert ev["origin_server_ts"] > 1
    # The content is opaque: it keeps what was sent.
    assert ev["content"]["sender"] == alice.user_id

    # Masquerading through ?user_id= is for application services only.
    r = bob.req("PUT", f"{V3}/rooms/{q(room_id)}/send/m.room.message/forge2"
                f"?user_id={q(alice.user_id)}", {"msgtype": "m.text", "body": "as alice?"})
    if r.status == 200:
        assert alice.event(room_id, r.json["event_id"])["sender"] == bob.user_id
    else:
        assert r.status == 403, r

    # A state event with a forged sender: still bob's, and refused by power.
    r = bob.put_state(room_id, "m.room.name", "", {"name": "x", "sender": alice.user_id})
    assert_error(r, 403, "M_FORBIDDEN")
    # Carol (not in the room) forging alice as the sender gets nowhere.
    assert_error(carol.send(room_id, {"msgtype": "m.text", "body": "x", "sender": alice.user_id},
                            "forge3"), 403, "M_FORBIDDEN")
    bodies = [e["content"].get("body") for e in alice.messages(room_id) if e["type"] == "m.room.message"]
    assert "x" not in bodies


# --------------------------------------------------------------------------
# Power levels.


def current_power_levels(user: User, room_id: str) -> dict:
    r = user.get_state(room_id, "m.room.power_levels")
    assert r.status == 200, r
    return r.json


def test_power_level_escalation_is_refused(room, users):
    room_id, alice, bob = room
    (carol,) = users("carol")
    alice.invite(room_id, carol)
    carol.join(room_id)
    pl = current_power_levels(alice, room_id)

    # A member at level 0 giving themself 100.
    mine = {**pl, "users": {**pl.get("users", {}), bob.user_id: 100}}
    assert_error(bob.put_state(room_id, "m.room.power_levels", "", mine), 403, "M_FORBIDDEN")
    # Lowering the bar instead.
    low = {**pl, "events": {**pl.get("events", {}), "m.room.power_levels": 0}}
    assert_error(bob.put_state(room_id, "m.room.power_levels", "", low), 403, "M_FORBIDDEN")
    assert_error(bob.put_state(room_id, "m.room.power_levels", "", {**pl, "users_default": 100}),
                 403, "M_FORBIDDEN")
    assert current_power_levels(alice, room_id) == pl

    # The creator makes bob a moderator who may edit power levels.
    mod = {**pl, "users": {**pl.get("users", {}), bob.user_id: 50},
           "events": {**pl.get("events", {}), "m.room.power_levels": 50}}
    r = alice.put_state(room_id, "m.room.power_levels", "", mod)
    assert r.status == 200, r

    # Now at 50: raising anyone (himself included) above 50 is refused.
    for who, level in [(carol.user_id, 75), (bob.user_id, 51), (bob.user_id, 100)]:
        up = {**mod, "users": {**mod["users"], who: level}}
        assert_error(bob.put_state(room_id, "m.room.power_levels", "", up), 403, "M_FORBIDDEN")
    # So are defaults and event levels above his own.
    for key, value in [("users_default", 60), ("kick", 99), ("ban", 100), ("state_default", 51)]:
        assert_error(bob.put_state(room_id, "m.room.power_levels", "", {**mod, key: value}),
                     403, "M_FORBIDDEN")
    # Up to his own level is fine...
    same = {**mod, "users": {**mod["users"], carol.user_id: 50}}
    r = bob.put_state(room_id, "m.room.power_levels", "", same)
    assert r.status == 200, r
    # ... but then carol, at his level, is out of his reach.
    down = {**same, "users": {**same["users"], carol.user_id: 0}}
    assert_error(bob.put_state(room_id, "m.room.power_levels", "", down), 403, "M_FORBIDDEN")
    # And carol cannot demote bob either.
    demote = {**same, "users": {**same["users"], bob.user_id: 0}}
    assert_error(carol.put_state(room_id, "m.room.power_levels", "", demote), 403, "M_FORBIDDEN")
    assert current_power_levels(alice, room_id) == same


def test_power_levels_that_are_not_power_levels(room):
    room_id, alice, _ = room
    pl = current_power_levels(alice, room_id)
    for bad in [{**pl, "users": {alice.user_id: "100"}},  # a string, not an integer
                {**pl, "users": {"not a user id": 10}},
                {**pl, "ban": 1.5},
                {**pl, "users": []}]:
        r = alice.put_state(room_id, "m.room.power_levels", "", bad)
        assert r.status in (400, 403), (bad, r)
    assert current_power_levels(alice, room_id) == pl


# --------------------------------------------------------------------------
# Filters.


def test_invalid_filters_are_refused(users):
    (alice,) = users("alice")
    path = f"{V3}/user/{q(alice.user_id)}/filter"
    for bad in [{"room": {"timeline": {"limit": "x"}}},
                {"room": {"timeline": {"types": "m.room.message"}}},
                {"room": {"timeline": {"types": [1, 2]}}},
                {"room": {"rooms": {"a": 1}}},
                {"room": {"state": {"lazy_load_members": "yes"}}},
                {"presence": {"senders": "x"}},
                {"event_fields": "content.body"}]:
        r = alice.req("POST", path, bad)
        assert_error(r, 400, "M_BAD_JSON")
    for bad in [{"room": {"timeline": {"limit": -1}}},
                {"event_format": "mine"}]:
        r = alice.req("POST", path, bad)
        assert r.status == 400 and r.json["errcode"] in ("M_INVALID_PARAM", "M_BAD_JSON"), (bad, r)
    # Not a JSON object.
    for raw in [b"[]", b"\"filter\"", b"1"]:
        r = alice.req("POST", path, raw=raw)
        assert r.status == 400 and r.json["errcode"] in ("M_BAD_JSON", "M_NOT_JSON"), (raw, r)
    assert_error(alice.req("POST", path, raw=b"{"), 400, "M_NOT_JSON")

    # The same, inline in /sync.
    r = alice.req("GET", f"{V3}/sync?timeout=0&filter="
                  + q(json.dumps({"room": {"timeline": {"limit": "x"}}})))
    assert_error(r, 400, "M_BAD_JSON")
    r = alice.req("GET", f"{V3}/sync?timeout=0&filter=" + q("{not json"))
    assert r.status == 400 and r.json["errcode"] in ("M_NOT_JSON", "M_BAD_JSON"), r


def test_unknown_filter_ids(users):
    alice, bob = users("alice", "bob")
    r = alice.req("POST", f"{V3}/user/{q(alice.user_id)}/filter", {"room": {"timeline": {"limit": 3}}})
    assert r.status == 200, r
    fid = r.json["filter_id"]
    for unknown in ["999999999", "abc", "-1", "1" * 40, fid + "0"]:
        r = alice.req("GET", f"{V3}/user/{q(alice.user_id)}/filter/{q(unknown)}")
        assert_error(r, 404, "M_NOT_FOUND")
        r = alice.req("GET", f"{V3}/sync?timeout=0&filter={q(unknown)}")
        assert_error(r, 404, "M_NOT_FOUND")
    # Another user's filter id is unknown to bob, and not his to read.
    r = bob.req("GET", f"{V3}/sync?timeout=0&filter={q(fid)}")
    assert_error(r, 404, "M_NOT_FOUND")
    r = bob.req("GET", f"{V3}/user/{q(alice.user_id)}/filter/{q(fid)}")
    assert_error(r, 403, "M_FORBIDDEN")
    r = bob.req("POST", f"{V3}/user/{q(alice.user_id)}/filter", {})
    assert_error(r, 403, "M_FORBIDDEN")


# --------------------------------------------------------------------------
# Transaction ids.


def test_replayed_transaction_id_is_one_event(room):
    room_id, alice, bob = room
    before = message_count(alice, room_id)
    first = alice.send(room_id, {"msgtype": "m.text", "body": "once"}, "txn-replay")
    assert first.status == 200, first
    for content in [{"msgtype": "m.text", "body": "once"},
                    {"msgtype": "m.text", "body": "different content"}]:
        again = alice.send(room_id, content, "txn-replay")
        assert again.status == 200, again
        assert again.json["event_id"] == first.json["event_id"]
    assert message_count(alice, room_id) == before + 1
    # Another user, or another device of the same user, with the same id is
    # another transaction.
    other = bob.send(room_id, {"msgtype": "m.text", "body": "bob's"}, "txn-replay")
    assert other.status == 200 and other.json["event_id"] != first.json["event_id"]
    r = alice.server.login(alice.user_id, PASSWORD)
    assert r.status == 200, r
    second_device = alice.send(room_id, {"msgtype": "m.text", "body": "device 2"}, "txn-replay")
    assert second_device.json["event_id"] == first.json["event_id"]  # same token, same device
    r2 = alice.req("PUT", f"{V3}/rooms/{q(room_id)}/send/m.room.message/txn-replay",
                   {"msgtype": "m.text", "body": "device 2"}, token=r.json["access_token"])
    assert r2.status == 200 and r2.json["event_id"] != first.json["event_id"]
    assert message_count(alice, room_id) == before + 3


def test_replayed_transaction_id_of_a_redaction(room):
    room_id, alice, _ = room
    target = alice.send(room_id, {"msgtype": "m.text", "body": "to redact"}, "t-target")
    path = f"{V3}/rooms/{q(room_id)}/redact/{q(target.json['event_id'])}/redact-1"
    first = alice.req("PUT", path, {"reason": "r"})
    assert first.status == 200, first
    again = alice.req("PUT", path, {"reason": "r"})
    assert again.status == 200 and again.json["event_id"] == first.json["event_id"]
    redactions = [e for e in alice.messages(room_id) if e["type"] == "m.room.redaction"]
    assert len(redactions) == 1


def test_transaction_ids_are_scoped_to_the_endpoint(room):
    """The spec scopes a transaction id to a device and an endpoint: the
    same id on /send and on /redact are two requests."""
    room_id, alice, _ = room
    sent = alice.send(room_id, {"msgtype": "m.text", "body": "t"}, "shared-txn")
    assert sent.status == 200, sent
    r = alice.req("PUT", f"{V3}/rooms/{q(room_id)}/redact/{q(sent.json['event_id'])}/shared-txn",
                  {"reason": "same txn id, other endpoint"})
    assert r.status == 200, r
    assert r.json["event_id"] != sent.json["event_id"]
    assert alice.event(room_id, sent.json["event_id"])["content"] == {}


# --------------------------------------------------------------------------
# Rooms one is not in; malformed ids.


def test_sending_to_a_room_one_is_not_in(room, users):
    room_id, alice, bob = room
    (mallory,) = users("mallory")
    before = alice.messages(room_id)
    assert_error(mallory.send(room_id, {"msgtype": "m.text", "body": "hi"}, "m1"), 403, "M_FORBIDDEN")
    assert_error(mallory.put_state(room_id, "org.vigie.x", "k", {}), 403, "M_FORBIDDEN")
    r = mallory.req("PUT", f"{V3}/rooms/{q(room_id)}/redact/{q(before[0]['event_id'])}/m2", {})
    assert r.status == 403, r
    assert_error(mallory.req("GET", f"{V3}/rooms/{q(room_id)}/messages?dir=b"), 403, "M_FORBIDDEN")
    assert_error(mallory.req("GET", f"{V3}/rooms/{q(room_id)}/state"), 403, "M_FORBIDDEN")
    assert_error(mallory.req("GET", f"{V3}/rooms/{q(room_id)}/members"), 403, "M_FORBIDDEN")
    r = mallory.req("GET", f"{V3}/rooms/{q(room_id)}/event/{q(before[0]['event_id'])}")
    assert r.status in (403, 404), r
    assert_error(mallory.req("POST", f"{V3}/rooms/{q(room_id)}/invite",
                             {"user_id": mallory.user_id}), 403, "M_FORBIDDEN")
    assert_error(mallory.req("POST", f"{V3}/join/{q(room_id)}", {}), 403, "M_FORBIDDEN")
    # A member who left is out too.
    r = bob.req("POST", f"{V3}/rooms/{q(room_id)}/leave", {})
    assert r.status == 200, r
    assert_error(bob.send(room_id, {"msgtype": "m.text", "body": "still?"}, "b1"), 403, "M_FORBIDDEN")
    after = alice.messages(room_id)
    assert [e for e in after if e["type"] == "m.room.message"] == \
        [e for e in before if e["type"] == "m.room.message"]
    # A room that does not exist.
    r = mallory.send("!doesnotexist", {"msgtype": "m.text", "body": "hi"}, "m3")
    assert r.status in (403, 404), r


def test_event_ids_of_another_room(room):
    """An event id is only looked up in the room of the path: receipts,
    read markers, redactions, /event and /context with the id of an event in
    another room are refused, and that event is untouched."""
    room_id, alice, bob = room
    other = alice.create_room()
    foreign = alice.send(other, {"msgtype": "m.text", "body": "elsewhere"}, "f1").json["event_id"]
    for method, path, body in [
        ("POST", f"/rooms/{q(room_id)}/receipt/m.read/{q(foreign)}", {}),
        ("POST", f"/rooms/{q(room_id)}/read_markers", {"m.fully_read": foreign, "m.read": foreign}),
        ("GET", f"/rooms/{q(room_id)}/event/{q(foreign)}", None),
        ("GET", f"/rooms/{q(room_id)}/context/{q(foreign)}", None),
        ("PUT", f"/rooms/{q(room_id)}/redact/{q(foreign)}/x1", {}),
    ]:
        who = alice if method == "PUT" else bob
        assert_error(who.req(method, V3 + path, body), 404, "M_NOT_FOUND")
    assert alice.event(other, foreign)["content"]["body"] == "elsewhere"
    assert not [e for e in alice.messages(room_id) if e["type"] == "m.room.redaction"]


def test_typing_and_receipts_for_others(room, users):
    room_id, alice, bob = room
    (mallory,) = users("mallory")
    ev = alice.send(room_id, {"msgtype": "m.text", "body": "x"}, "tr1").json["event_id"]
    # Typing on someone else's behalf, or in a room one is not in.
    assert_error(bob.req("PUT", f"{V3}/rooms/{q(room_id)}/typing/{q(alice.user_id)}",
                         {"typing": True, "timeout": 1000}), 403, "M_FORBIDDEN")
    assert_error(mallory.req("PUT", f"{V3}/rooms/{q(room_id)}/typing/{q(mallory.user_id)}",
                             {"typing": True, "timeout": 1000}), 403, "M_FORBIDDEN")
    assert_error(bob.req("PUT", f"{V3}/rooms/{q(room_id)}/typing/{q(bob.user_id)}",
                         {"typing": "yes"}), 400, "M_BAD_JSON")
    # Receipts: unknown types, unknown events, rooms one is not in.
    assert_error(bob.req("POST", f"{V3}/rooms/{q(room_id)}/receipt/m.bogus/{q(ev)}", {}),
                 400, "M_INVALID_PARAM")
    assert_error(bob.req("POST", f"{V3}/rooms/{q(room_id)}/receipt/m.read/{q('$nope')}", {}),
                 404, "M_NOT_FOUND")
    assert_error(mallory.req("POST", f"{V3}/rooms/{q(room_id)}/receipt/m.read/{q(ev)}", {}),
                 403, "M_FORBIDDEN")


def test_messages_with_bad_parameters(room):
    room_id, alice, _ = room
    base = f"{V3}/rooms/{q(room_id)}/messages"
    for query in ["dir=b&from=garbage", "dir=x", "dir=b&limit=abc", "dir=b&from=s1_x"]:
        assert_error(alice.req("GET", f"{base}?{query}"), 400, "M_INVALID_PARAM")
    r = alice.req("GET", f"{base}?dir=b&filter=" + q(json.dumps({"limit": "x"})))
    assert_error(r, 400, "M_BAD_JSON")


@pytest.mark.parametrize("bad_room", [
    "notaroom", "#alias:test.vigie", "@user:test.vigie", "$event", "!", "!" + "a" * 300,
])
def test_invalid_room_ids(users, bad_room):
    (alice,) = users("alice")
    r = alice.send(bad_room, {"msgtype": "m.text", "body": "x"}, "t")
    assert_error(r, 400, "M_INVALID_PARAM")
    r = alice.put_state(bad_room, "org.vigie.x", "k", {})
    assert_error(r, 400, "M_INVALID_PARAM")
    r = alice.req("GET", f"{V3}/rooms/{q(bad_room)}/state")
    assert r.status in (400, 403, 404), r
    r = alice.req("GET", f"{V3}/rooms/{q(bad_room)}/messages?dir=b")
    assert r.status in (400, 403, 404), r
    r = alice.req("POST", f"{V3}/rooms/{q(bad_room)}/invite", {"user_id": alice.user_id})
    assert_error(r, 400, "M_INVALID_PARAM")


@pytest.mark.parametrize("bad_type", ["t" * 256, "\u00e9" * 128])
def test_invalid_event_types(room, bad_type):
    room_id, alice, _ = room
    before = alice.messages(room_id)
    assert_error(alice.send(room_id, {"v": 1}, "bt", bad_type), 400, "M_INVALID_PARAM")
    assert_error(alice.put_state(room_id, bad_type, "k", {"v": 1}), 400, "M_INVALID_PARAM")
    assert [e["event_id"] for e in alice.messages(room_id)] == [e["event_id"] for e in before]


def test_empty_state_key_as_a_trailing_slash(room):
    """The spec: when the state key is empty, the trailing slash on
    /state/{eventType}/{stateKey} is optional. matrix-js-sdk always sends it
    (topic, name, power levels...)."""
    room_id, alice, bob = room
    path = f"{V3}/rooms/{q(room_id)}/state/m.room.topic/"
    r = alice.req("PUT", path, {"topic": "with a slash"})
    assert r.status == 200, r
    r = bob.req("GET", path)
    assert r.status == 200 and r.json == {"topic": "with a slash"}, r
    assert_error(bob.req("PUT", path, {"topic": "bob's"}), 403, "M_FORBIDDEN")


def test_redaction_through_send_is_refused(room):
    room_id, alice, _ = room
    target = alice.send(room_id, {"msgtype": "m.text", "body": "t"}, "rt")
    r = alice.send(room_id, {"redacts": target.json["event_id"]}, "rs", "m.room.redaction")
    assert r.status in (400, 403), r
    assert alice.event(room_id, target.json["event_id"])["content"]["body"] == "t"


def test_create_event_cannot_be_sent_again(room):
    room_id, alice, _ = room
    r = alice.put_state(room_id, "m.room.create", "", {"room_version": "1"})
    assert r.status in (400, 403), r
    r = alice.send(room_id, {"room_version": "1"}, "cr", "m.room.create")
    assert r.status in (400, 403), r
    assert alice.get_state(room_id, "m.room.create").json.get("room_version") != "1"


# --------------------------------------------------------------------------
# Sync tokens.


@pytest.mark.parametrize("since", [
    "garbage", "s", "s-1", "sx", "s1_", "s1_x", "s1_-2", "1_1", "s1_1_1",
    "s99999999999999999999999999", "s1 ", "%00", "s\u00e9",
])
def test_sync_with_a_garbage_since(users, since):
    (alice,) = users("alice")
    r = alice.req("GET", f"{V3}/sync?timeout=0&since={q(since)}")
    assert_error(r, 400, "M_INVALID_PARAM")


def test_sync_with_a_token_from_the_future_does_not_hang_or_fail(users):
    (alice,) = users("alice")
    r = alice.req("GET", f"{V3}/sync?timeout=0")
    assert r.status == 200, r
    r = alice.req("GET", f"{V3}/sync?timeout=0&since=s999999999_0")
    assert r.status == 200, r
    assert r.json["next_batch"]


def test_sync_with_bad_timeouts(users):
    (alice,) = users("alice")
    for t in ["x", "1.5", "", "-"]:
        r = alice.req("GET", f"{V3}/sync?timeout={q(t)}")
        assert r.status in (200, 400), r
        if r.status == 400:
            assert r.json["errcode"] == "M_INVALID_PARAM", r
    r = alice.req("GET", f"{V3}/sync?timeout=0&set_presence=invisible")
    assert_error(r, 400, "M_INVALID_PARAM")
