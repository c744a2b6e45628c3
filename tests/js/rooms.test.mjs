// Rooms with the real matrix-js-sdk against a live vigie: creation,
// invitations, joining, messages both ways, state changes, leaving.
//
//   npm ci && node --test tests/js/

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  assertMatrixError,
  isText,
  registerClient,
  sdk,
  sharedServer,
  startSyncing,
  stopAll,
  TIMELINE_CHANGES,
  waitFor,
  waitForEvent,
  waitForMembership,
  withTimeout,
} from "./server.mjs";

const TEST_TIMEOUT = 30_000;

describe("rooms with matrix-js-sdk", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("create, invite, join, and chat both ways", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    const bob = await registerClient(server, "bob");
    try {
      await startSyncing(alice);
      await startSyncing(bob);

      const { room_id: roomId } = await alice.createRoom({ name: "Chat", topic: "both ways" });
      assert.match(roomId, /^!.+/);
      const aliceRoom = await waitForMembership(alice, roomId, "join");
      await waitFor(alice, sdk.RoomEvent.Name, () => aliceRoom.name === "Chat", "the room name");

      const invited = waitForMembership(bob, roomId, "invite");
      await alice.invite(roomId, bob.getUserId());
      const invite = await invited;
      // The invite carries the stripped state: the name and the inviter are
      // known before joining.
      assert.equal(invite.name, "Chat");
      const member = invite.currentState.getStateEvents("m.room.member", bob.getUserId());
      assert.equal(member.getSender(), alice.getUserId());
      assert.equal(member.getContent().membership, "invite");

      await bob.joinRoom(roomId);
      const bobRoom = await waitForMembership(bob, roomId, "join");
      await waitForEvent(
        alice,
        roomId,
        (e) => e.getType() === "m.room.member" && e.getStateKey() === bob.getUserId() && e.getContent().membership === "join",
        "bob's join",
      );
      assert.deepEqual(
        aliceRoom.getJoinedMembers().map((m) => m.userId).sort(),
        [alice.getUserId(), bob.getUserId()].sort(),
      );
      assert.equal(bobRoom.currentState.getStateEvents("m.room.topic", "").getContent().topic, "both ways");

      // Alice to Bob.
      const seenByBob = waitForEvent(bob, roomId, isText("hello bob", alice.getUserId()), "alice's message");
      const sent = await alice.sendTextMessage(roomId, "hello bob");
      assert.match(sent.event_id, /^\$/);
      const got = await seenByBob;
      assert.equal(got.getId(), sent.event_id);
      assert.equal(got.getSender(), alice.getUserId());

      // Bob to Alice, with a custom event type through sendEvent.
      const seenByAlice = waitForEvent(alice, roomId, (e) => e.getType() === "org.vigie.test", "bob's custom event");
      const custom = await bob.sendEvent(roomId, "org.vigie.test", { n: 42, nested: { ok: true } });
      const ev = await seenByAlice;
      assert.equal(ev.getId(), custom.event_id);
      assert.deepEqual(ev.getContent(), { n: 42, nested: { ok: true } });

      // A burst each way, watched by a third member: every side sees every
      // message once, and all see the server's order, in which each round
      // (a_i, b_i, sent together) comes before the next.
      const carol = await registerClient(server, "carol");
      try {
        await alice.invite(roomId, carol.getUserId());
        await carol.joinRoom(roomId);
        await startSyncing(carol);
        const burst = (c) =>
          c
            .getRoom(roomId)
            .getLiveTimeline()
            .getEvents()
            .filter((e) => e.getType() === "m.room.message" && /^[ab]\d$/.test(e.getContent().body) && !e.status)
            .map((e) => e.getContent().body);
        for (let i = 0; i < 5; i++) {
          await Promise.all([alice.sendTextMessage(roomId, `a${i}`), bob.sendTextMessage(roomId, `b${i}`)]);
        }
        for (const c of [alice, bob, carol]) {
          await waitFor(c, TIMELINE_CHANGES, () => burst(c).length === 10, `${c.getUserId()}'s ten burst messages`);
        }
        const order = burst(carol);
        for (let i = 0; i < 5; i++) {
          const round = order.slice(2 * i, 2 * i + 2).sort();
          assert.deepEqual(round, [`a${i}`, `b${i}`], `round ${i} in ${order}`);
        }
        // The others see each other's messages in the same relative order.
        assert.deepEqual(burst(alice).filter((b) => b[0] === "b"), ["b0", "b1", "b2", "b3", "b4"]);
        assert.deepEqual(burst(bob).filter((b) => b[0] === "a"), ["a0", "a1", "a2", "a3", "a4"]);
      } finally {
        stopAll(carol);
      }
    } finally {
      stopAll(alice, bob);
    }
  });

  test("state changes and leaving are seen by the other member", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    const bob = await registerClient(server, "bob");
    try {
      await startSyncing(alice);
      await startSyncing(bob);
      const { room_id: roomId } = await alice.createRoom({ invite: [bob.getUserId()] });
      await waitForMembership(bob, roomId, "invite");
      await bob.joinRoom(roomId);
      const bobRoom = await waitForMembership(bob, roomId, "join");

      // A state event with a state key.
      const stateSeen = waitForEvent(bob, roomId, (e) => e.getType() === "org.vigie.state", "the new state event");
      await alice.sendStateEvent(roomId, "org.vigie.state", { v: 1 }, "k1");
      await stateSeen;
      assert.deepEqual(bobRoom.currentState.getStateEvents("org.vigie.state", "k1").getContent(), { v: 1 });

      // Bob has power 0 and the default state_default is 50.
      await assertMatrixError(bob.sendStateEvent(roomId, "org.vigie.state", { v: 2 }, "k1"), "M_FORBIDDEN", 403);

      const left = waitForEvent(
        alice,
        roomId,
        (e) => e.getType() === "m.room.member" && e.getStateKey() === bob.getUserId() && e.getContent().membership === "leave",
        "bob leaving",
      );
      await bob.leave(roomId);
      await left;
      await waitForMembership(bob, roomId, "leave");
      // Gone is gone: no more sending.
      await assertMatrixError(bob.sendTextMessage(roomId, "still here?"), "M_FORBIDDEN", 403);
      assert.deepEqual(
        alice
          .getRoom(roomId)
          .getJoinedMembers()
          .map((m) => m.userId),
        [alice.getUserId()],
      );
    } finally {
      stopAll(alice, bob);
    }
  });

  // matrix-js-sdk sends every state event to .../state/{type}/{stateKey},
  // so an empty state key (topic, name, power levels, ...) ends in a slash.
  test(
    "state events with an empty state key (setRoomTopic, setRoomName)",
    { timeout: TEST_TIMEOUT },
    async () => {
      const alice = await registerClient(server, "alice");
      const bob = await registerClient(server, "bob");
      try {
        await startSyncing(alice);
        await startSyncing(bob);
        const { room_id: roomId } = await alice.createRoom({ invite: [bob.getUserId()] });
        await waitForMembership(bob, roomId, "invite");
        await bob.joinRoom(roomId);
        const bobRoom = await waitForMembership(bob, roomId, "join");

        const topicSeen = waitForEvent(bob, roomId, (e) => e.getType() === "m.room.topic", "the new topic");
        await alice.setRoomTopic(roomId, "a new topic");
        await topicSeen;
        assert.equal(bobRoom.currentState.getStateEvents("m.room.topic", "").getContent().topic, "a new topic");
        const nameSeen = waitFor(bob, sdk.RoomEvent.Name, () => bobRoom.name === "Renamed", "the new name");
        await alice.setRoomName(roomId, "Renamed");
        await nameSeen;
        // Read back through the SDK (GET .../state/m.room.name/).
        assert.deepEqual(await bob.getStateEvent(roomId, "m.room.name", ""), { name: "Renamed" });
        // Bob has power 0 and the default state_default is 50.
        await assertMatrixError(bob.setRoomTopic(roomId, "bob's topic"), "M_FORBIDDEN", 403);
      } finally {
        stopAll(alice, bob);
      }
    },
  );

  test("joining an unknown room and inviting twice are refused", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    const bob = await registerClient(server, "bob");
    try {
      const { room_id: roomId } = await alice.createRoom({});
      // A private room: no invite, no entry.
      await assertMatrixError(bob.joinRoom(roomId), "M_FORBIDDEN", 403);
      await alice.invite(roomId, bob.getUserId());
      await assertMatrixError(alice.invite(roomId, alice.getUserId()), "M_FORBIDDEN", 403);
      const joined = await withTimeout(bob.joinRoom(roomId), 10_000, "joining after the invite");
      assert.equal(joined.roomId, roomId);
      assert.deepEqual((await bob.getJoinedRooms()).joined_rooms, [roomId]);
    } finally {
      stopAll(alice, bob);
    }
  });
});
