// Stored filters and lazy-loaded members with the real matrix-js-sdk.

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import {
  assertMatrixError,
  isText,
  loginClient,
  registerClient,
  sdk,
  sharedServer,
  startSyncing,
  stopAll,
  waitForEvent,
  withTimeout,
} from "./server.mjs";

const TEST_TIMEOUT = 30_000;

describe("filters and lazy loading with matrix-js-sdk", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("a stored filter round-trips and applies to incremental syncs", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    const bob = await registerClient(server, "bob");
    try {
      const definition = {
        room: {
          timeline: { limit: 7, not_types: ["org.vigie.noise"] },
          state: { lazy_load_members: true },
        },
        presence: { not_types: ["*"] },
      };
      const stored = await alice.createFilter(definition);
      assert.match(stored.filterId, /\S/);
      const back = await alice.getFilter(alice.getUserId(), stored.filterId, false);
      assert.deepEqual(back.getDefinition(), definition);
      // Someone else's filters are not readable.
      await assertMatrixError(bob.getFilter(alice.getUserId(), stored.filterId, false), "M_FORBIDDEN", 403);
      await assertMatrixError(alice.getFilter(alice.getUserId(), "999999999", false), "M_NOT_FOUND", 404);

      const { room_id: roomId } = await alice.createRoom({ invite: [bob.getUserId()] });
      await bob.joinRoom(roomId);
      await startSyncing(alice, { filter: sdk.Filter.fromJson(alice.getUserId(), stored.filterId, definition) });
      await startSyncing(bob);

      // The noise is filtered out of alice's timeline, the message is not.
      const seen = waitForEvent(alice, roomId, isText("signal", bob.getUserId()), "bob's message");
      await bob.sendEvent(roomId, "org.vigie.noise", { n: 1 });
      await bob.sendTextMessage(roomId, "signal");
      await seen;
      const types = alice
        .getRoom(roomId)
        .getLiveTimeline()
        .getEvents()
        .map((e) => e.getType());
      assert.ok(!types.includes("org.vigie.noise"), `filtered timeline: ${types}`);
    } finally {
      stopAll(alice, bob);
    }
  });

  test("lazyLoadMembers: only the timeline's senders, then all on demand", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await registerClient(server, "alice");
    const bob = await registerClient(server, "bob");
    const quiet = [];
    let lazy, eager;
    try {
      const { room_id: roomId } = await alice.createRoom({ name: "Crowd" });
      await alice.invite(roomId, bob.getUserId());
      await bob.joinRoom(roomId);
      for (let i = 0; i < 4; i++) {
        const q = await registerClient(server, "quiet");
        quiet.push(q);
        await alice.invite(roomId, q.getUserId());
        await q.joinRoom(roomId);
      }
      // Enough chatter that the joins are out of the initial timeline.
      for (let i = 0; i < 12; i++) {
        await (i % 2 ? bob : alice).sendTextMessage(roomId, `chat ${i}`);
      }
      const everyone = [alice, bob, ...quiet].map((c) => c.getUserId()).sort();

      lazy = await loginClient(server, alice.getUserId());
      await startSyncing(lazy, { lazyLoadMembers: true, initialSyncLimit: 5 });
      const room = lazy.getRoom(roomId);
      assert.ok(room);
      const loaded = room.currentState
        .getMembers()
        .map((m) => m.userId)
        .sort();
      assert.deepEqual(loaded, [alice.getUserId(), bob.getUserId()].sort(), "only the senders' members");
      // The summary still counts everyone.
      assert.equal(room.getJoinedMemberCount(), 6);
      // On demand (GET /members?at=...), the SDK gets them all.
      await withTimeout(room.loadMembersIfNeeded(), 10_000, "loading the members");
      assert.deepEqual(
        room
          .getJoinedMembers()
          .map((m) => m.userId)
          .sort(),
        everyone,
      );

      // Without lazy loading, the initial sync has every member.
      eager = await loginClient(server, alice.getUserId());
      await startSyncing(eager, { initialSyncLimit: 5 });
      assert.deepEqual(
        eager
          .getRoom(roomId)
          .currentState.getMembers()
          .map((m) => m.userId)
          .sort(),
        everyone,
      );

    } finally {
      stopAll(alice, bob, lazy, eager, ...quiet);
    }
  });
});
