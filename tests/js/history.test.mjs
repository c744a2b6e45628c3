// History and moderation with the real matrix-js-sdk: back-pagination to
// the room's creation, redaction as the other member sees it, and kicks and
// bans checked against power levels.

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  assertMatrixError,
  isText,
  loginClient,
  registerClient,
  roomOfTwo,
  sdk,
  sharedServer,
  startSyncing,
  stopAll,
  waitFor,
  waitForEvent,
  waitForMembership,
  withTimeout,
} from "./server.mjs";

const TEST_TIMEOUT = 30_000;

const timelineEvents = (client, roomId) => client.getRoom(roomId).getLiveTimeline().getEvents();

describe("history and moderation with matrix-js-sdk", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("scrollback pages back to m.room.create, in order", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    let reader;
    try {
      const { room_id: roomId } = await alice.createRoom({ name: "History" });
      const N = 45;
      for (let i = 0; i < N; i++) await alice.sendTextMessage(roomId, `m${i}`);

      // A second device of alice's starts with only the last 5 events.
      reader = await loginClient(server, alice.getUserId());
      await startSyncing(reader, { initialSyncLimit: 5 });
      const room = reader.getRoom(roomId);
      assert.ok(room, "the room is in the initial sync");
      assert.equal(timelineEvents(reader, roomId).length, 5);
      assert.notEqual(room.oldState.paginationToken, null, "a limited timeline has a prev_batch");

      for (let i = 0; i < 30 && room.oldState.paginationToken !== null; i++) {
        await withTimeout(reader.scrollback(room, 10), 10_000, "scrollback");
        if (timelineEvents(reader, roomId)[0]?.getType() === "m.room.create") break;
      }
      const events = timelineEvents(reader, roomId);
      assert.equal(events[0].getType(), "m.room.create", "paginated back to the creation");
      assert.equal(events[0].getSender(), alice.getUserId());
      const bodies = events.filter((e) => e.getType() === "m.room.message").map((e) => e.getContent().body);
      assert.deepEqual(
        bodies,
        Array.from({ length: N }, (_, i) => `m${i}`),
      );
      // No duplicates and the state events of the creation are all there.
      const ids = events.map((e) => e.getId());
      assert.equal(new Set(ids).size, ids.length);
      for (const type of ["m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.name"]) {
        assert.ok(events.some((e) => e.getType() === type), `${type} in the history`);
      }
      // Paginating further at the start is a no-op.
      await withTimeout(reader.scrollback(room, 10), 10_000, "scrollback at the start");
      assert.equal(timelineEvents(reader, roomId).length, events.length);
    } finally {
      stopAll(alice, reader);
    }
  });

  test("redaction: allowed for one's own events, seen redacted by the other member", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    try {
      const seen = waitForEvent(bob, roomId, isText("secret", alice.getUserId()), "alice's message");
      const { event_id: eventId } = await alice.sendTextMessage(roomId, "secret");
      const bobEvent = await seen;

      // Bob (power 0, redact needs 50) may not redact alice's event.
      await assertMatrixError(bob.redactEvent(roomId, eventId), "M_FORBIDDEN", 403);

      const redacted = waitFor(
        bob,
        sdk.RoomEvent.Redaction,
        (ev) => ev?.event?.redacts === eventId || ev?.getContent?.().redacts === eventId,
        "the redaction of alice's message",
      );
      const { event_id: redactionId } = await alice.redactEvent(roomId, eventId, undefined, { reason: "oops" });
      assert.match(redactionId, /^\$/);
      await redacted;
      assert.ok(bobEvent.isRedacted(), "bob's copy of the event is redacted");
      assert.deepEqual(bobEvent.getContent(), {});
      assert.equal(bobEvent.getUnsigned().redacted_because?.event_id ?? redactionId, redactionId);

      // Fetched afresh from the server, the event is redacted too.
      const fetched = await bob.fetchRoomEvent(roomId, eventId);
      assert.deepEqual(fetched.content, {});
      assert.equal(fetched.unsigned?.redacted_because?.event_id, redactionId);

      // Bob may redact his own event.
      const own = waitForEvent(alice, roomId, isText("mine", bob.getUserId()), "bob's message");
      const { event_id: bobsId } = await bob.sendTextMessage(roomId, "mine");
      const aliceCopy = await own;
      const ownRedacted = waitFor(alice, sdk.RoomEvent.Redaction, () => aliceCopy.isRedacted(), "bob's redaction");
      await bob.redactEvent(roomId, bobsId);
      await ownRedacted;
      assert.deepEqual(aliceCopy.getContent(), {});

      // A fresh client's initial sync has the event already redacted.
      const fresh = await loginClient(server, bob.getUserId());
      try {
        await startSyncing(fresh);
        const ev = timelineEvents(fresh, roomId).find((e) => e.getId() === eventId);
        assert.ok(ev, "the redacted event is still in the timeline");
        assert.ok(ev.isRedacted());
        assert.deepEqual(ev.getContent(), {});
      } finally {
        stopAll(fresh);
      }
    } finally {
      stopAll(alice, bob);
    }
  });

  test(
    "unsigned.redacted_because is the whole redaction event",
    { timeout: TEST_TIMEOUT },
    async () => {
      const { alice, bob, roomId } = await roomOfTwo(server);
      try {
        const { event_id: eventId } = await alice.sendTextMessage(roomId, "rude");
        const { event_id: redactionId } = await alice.redactEvent(roomId, eventId, undefined, { reason: "sorry" });
        // What a client shows ("deleted by alice: sorry") comes from here.
        const because = (await bob.fetchRoomEvent(roomId, eventId)).unsigned?.redacted_because;
        assert.equal(because?.event_id, redactionId);
        assert.equal(because?.type, "m.room.redaction");
        assert.equal(because?.sender, alice.getUserId());
        assert.equal(because?.content?.reason, "sorry");
        assert.equal(typeof because?.origin_server_ts, "number");
      } finally {
        stopAll(alice, bob);
      }
    },
  );

  test("kick and ban: refused without power, allowed for the creator", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    const carol = await registerClient(server, "carol");
    try {
      await alice.invite(roomId, carol.getUserId());
      await carol.joinRoom(roomId);
      await startSyncing(carol);
      await waitForMembership(carol, roomId, "join");

      // Bob has power 0; kick and ban need 50.
      await assertMatrixError(bob.kick(roomId, carol.getUserId(), "no"), "M_FORBIDDEN", 403);
      await assertMatrixError(bob.ban(roomId, carol.getUserId(), "no"), "M_FORBIDDEN", 403);
      // Nor can anyone touch the creator.
      await assertMatrixError(bob.kick(roomId, alice.getUserId()), "M_FORBIDDEN", 403);
      assert.equal(carol.getRoom(roomId).getMyMembership(), "join");

      // The creator kicks carol, who sees it with the reason.
      const kicked = waitForMembership(carol, roomId, "leave");
      await alice.kick(roomId, carol.getUserId(), "be nice");
      const carolRoom = await kicked;
      const kick = carolRoom.currentState.getStateEvents("m.room.member", carol.getUserId());
      assert.equal(kick.getSender(), alice.getUserId());
      assert.equal(kick.getContent().reason, "be nice");
      // A kick is not a ban: carol may come back when invited again.
      await alice.invite(roomId, carol.getUserId());
      await withTimeout(carol.joinRoom(roomId), 10_000, "carol rejoining");
      await waitForMembership(carol, roomId, "join");

      // The creator bans bob, who sees it, and cannot come back.
      const banned = waitForMembership(bob, roomId, "ban");
      await alice.ban(roomId, bob.getUserId(), "spam");
      await banned;
      await waitForEvent(
        carol,
        roomId,
        (e) => e.getType() === "m.room.member" && e.getStateKey() === bob.getUserId() && e.getContent().membership === "ban",
        "bob's ban",
      );
      await assertMatrixError(bob.joinRoom(roomId), "M_FORBIDDEN", 403);
      await assertMatrixError(bob.sendTextMessage(roomId, "let me in"), "M_FORBIDDEN", 403);
      await assertMatrixError(alice.invite(roomId, bob.getUserId()), "M_FORBIDDEN", 403);
      // Carol (power 0) may not unban.
      await assertMatrixError(carol.unban(roomId, bob.getUserId()), "M_FORBIDDEN", 403);
      // Unbanned by the creator, bob is out (leave) and may be invited again.
      await alice.unban(roomId, bob.getUserId());
      await waitForMembership(bob, roomId, "leave");
      await alice.invite(roomId, bob.getUserId());
      await waitForMembership(bob, roomId, "invite");
    } finally {
      stopAll(alice, bob, carol);
    }
  });
});
