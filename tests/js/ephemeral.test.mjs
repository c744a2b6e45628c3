// Typing notifications and read receipts with the real matrix-js-sdk: what
// one member sends, the other sees through /sync's ephemeral events.

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import { isText, roomOfTwo, sdk, sharedServer, stopAll, waitFor, waitForEvent } from "./server.mjs";

const TEST_TIMEOUT = 30_000;

describe("typing and receipts with matrix-js-sdk", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("typing starts and stops on the other side", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    try {
      // Whether `viewer` currently sees `user` typing, re-checked on every
      // typing change the viewer's SDK reports (and once at the start).
      const typing = (viewer, user, want, what) =>
        waitFor(
          viewer,
          sdk.RoomMemberEvent.Typing,
          () => viewer.getRoom(roomId)?.getMember(user.getUserId())?.typing === want,
          what,
        );

      const bobSees = typing(bob, alice, true, "alice typing");
      const aliceSees = typing(alice, alice, true, "alice's own typing in m.typing");
      await alice.sendTyping(roomId, true, 20_000);
      await Promise.all([bobSees, aliceSees]);

      const stopped = typing(bob, alice, false, "alice stopping");
      await alice.sendTyping(roomId, false);
      await stopped;

      // A short timeout runs out by itself, and the others are told.
      await Promise.all([typing(alice, bob, true, "bob typing"), bob.sendTyping(roomId, true, 1_000)]);
      const t0 = Date.now();
      await typing(alice, bob, false, "bob's typing to time out");
      assert.ok(Date.now() - t0 < 8_000);
    } finally {
      stopAll(alice, bob);
    }
  });

  test("typing in a room one is not in is refused", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    try {
      const { room_id: other } = await alice.createRoom({});
      await assert.rejects(bob.sendTyping(other, true, 5_000), (e) => {
        assert.equal(e.httpStatus, 403, String(e));
        assert.equal(e.errcode, "M_FORBIDDEN");
        return true;
      });
      assert.ok(roomId);
    } finally {
      stopAll(alice, bob);
    }
  });

  test("a read receipt is seen by the other member", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    try {
      const seen = waitForEvent(alice, roomId, isText("read me", bob.getUserId()), "bob's message");
      const { event_id: eventId } = await bob.sendTextMessage(roomId, "read me");
      const ev = await seen;
      assert.equal(ev.getId(), eventId);

      const receipt = waitFor(
        bob,
        sdk.RoomEvent.Receipt,
        () => bob.getRoom(roomId).getEventReadUpTo(alice.getUserId(), true) === eventId,
        "alice's read receipt",
      );
      await alice.sendReadReceipt(ev, sdk.ReceiptType.Read);
      await receipt;
      const bobRoom = bob.getRoom(roomId);
      const bobEvent = bobRoom.findEventById(eventId);
      assert.ok(bobRoom.getUsersReadUpTo(bobEvent).includes(alice.getUserId()));
      const r = bobRoom.getReadReceiptForUserId(alice.getUserId(), true, sdk.ReceiptType.Read);
      assert.equal(r.eventId, eventId);
      assert.equal(typeof r.data.ts, "number");

      // A later receipt moves the marker.
      const seen2 = waitForEvent(alice, roomId, isText("and me", bob.getUserId()), "bob's second message");
      const { event_id: second } = await bob.sendTextMessage(roomId, "and me");
      const ev2 = await seen2;
      const moved = waitFor(
        bob,
        sdk.RoomEvent.Receipt,
        () => bob.getRoom(roomId).getEventReadUpTo(alice.getUserId(), true) === second,
        "alice's second receipt",
      );
      await alice.sendReadReceipt(ev2, sdk.ReceiptType.Read);
      await moved;
    } finally {
      stopAll(alice, bob);
    }
  });

  test("a private read receipt is not shown to the other member", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await roomOfTwo(server);
    try {
      const seen = waitForEvent(alice, roomId, isText("private", bob.getUserId()), "bob's message");
      await bob.sendTextMessage(roomId, "private");
      const ev = await seen;
      await alice.sendReadReceipt(ev, sdk.ReceiptType.ReadPrivate);
      // Then a public one on a later event: bob must see that one only.
      const seen2 = waitForEvent(alice, roomId, isText("public", bob.getUserId()), "bob's second message");
      const { event_id: second } = await bob.sendTextMessage(roomId, "public");
      const ev2 = await seen2;
      const publicSeen = waitFor(
        bob,
        sdk.RoomEvent.Receipt,
        () => bob.getRoom(roomId).getEventReadUpTo(alice.getUserId(), true) === second,
        "alice's public receipt",
      );
      await alice.sendReadReceipt(ev2, sdk.ReceiptType.Read);
      await publicSeen;
      const priv = bob.getRoom(roomId).getReadReceiptForUserId(alice.getUserId(), true, sdk.ReceiptType.ReadPrivate);
      assert.equal(priv, null, "bob must not see alice's private receipt");
    } finally {
      stopAll(alice, bob);
    }
  });
});
