// End-to-end encryption with the real matrix-js-sdk and its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm) against a live vigie: Megolm room
// messages between unverified devices, a new device learnt through /sync
// device_lists, to-device delivery and its transaction-id idempotency, and
// server-side key backup (/room_keys) restored on a fresh device.
//
// Every client runs its own in-memory crypto store
// (initRustCrypto({ useIndexedDB: false })), so a new client is a new device
// with no keys at all.

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { LoggerLevel, Tracing } from "@matrix-org/matrix-sdk-crypto-wasm";

import {
  loginClient,
  registerClient,
  sdk,
  sharedServer,
  startSyncing,
  stopAll,
  unique,
  waitFor,
  waitForEvent,
  waitForMembership,
  withTimeout,
} from "./server.mjs";

const TEST_TIMEOUT = 30_000;
// Backup uploads start after a random delay of up to 10 s
// (rust-crypto/backup.js backupKeysLoop), once when the backup is enabled
// and again when the first room key exists.
const BACKUP_TEST_TIMEOUT = 60_000;
const MEGOLM = "m.megolm.v1.aes-sha2";
const ENCRYPTION_STATE = { type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } };

/**
 * Resolves with the value of `check()` (which may be async) once it is
 * truthy, re-checking every `interval` ms; rejects after `ms`. For state the
 * SDK changes without an event to wait for (its device lists, the server's
 * backup count).
 */
async function poll(check, what, ms = 15_000, interval = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

// The Rust crypto logs through its own tracing layer straight to the
// console: every initRustCrypto does `new Tracing(LoggerLevel.Debug).turnOn()`.
// Like the SDK's logger (server.mjs), it is silent unless VIGIE_JS_SDK_LOG
// names a level: then it logs from that level up.
const RUST_LOG_LEVELS = {
  debug: LoggerLevel.Debug,
  info: LoggerLevel.Info,
  warn: LoggerLevel.Warn,
  error: LoggerLevel.Error,
};
{
  const level = RUST_LOG_LEVELS[process.env.VIGIE_JS_SDK_LOG];
  const turnOn = Tracing.prototype.turnOn;
  Tracing.prototype.turnOn = function () {
    if (level === undefined) return this.turnOff();
    this.minLevel = level;
    return turnOn.call(this);
  };
}

/** A registered client with Rust crypto (an in-memory store), not yet syncing. */
async function cryptoClient(client) {
  await client.initRustCrypto({ useIndexedDB: false });
  return client;
}

/** The device ids `client`'s crypto knows for `userId`, without downloading. */
async function knownDevices(client, userId) {
  const map = await client.getCrypto().getUserDeviceInfo([userId]);
  return [...(map.get(userId)?.keys() ?? [])];
}

/**
 * Resolves with `event` once `client` has decrypted it: the decryption may
 * still be running, or have failed because the room key came in a later
 * sync than the event (the Rust crypto retries then, emitting
 * Event.decrypted again).
 */
async function decrypted(client, event, ms = 15_000) {
  const done = waitFor(
    event,
    sdk.MatrixEventEvent.Decrypted,
    () => (!event.isBeingDecrypted() && event.getClearContent() && !event.isDecryptionFailure() ? event : null),
    `${client.getUserId()}/${client.getDeviceId()} to decrypt ${event.getId()} (last failure: ${event.decryptionFailureReason})`,
    ms,
  );
  await withTimeout(client.decryptEventIfNeeded(event), ms, `decryption of ${event.getId()}`);
  return done;
}

/** Waits for the event `eventId` in `client`'s live timeline of `roomId`, then for its decryption. */
async function receiveDecrypted(client, roomId, eventId, what) {
  const ev = await waitForEvent(client, roomId, (e) => e.getId() === eventId, what, 15_000);
  return decrypted(client, ev);
}

function assertDecrypted(ev, body, sender) {
  assert.ok(ev.isEncrypted(), `${ev.getId()} should have come encrypted`);
  assert.equal(ev.getWireType(), "m.room.encrypted");
  assert.equal(ev.getWireContent().algorithm, MEGOLM);
  assert.equal(ev.getType(), "m.room.message");
  assert.equal(ev.getContent().body, body);
  assert.equal(ev.getSender(), sender);
  assert.equal(ev.isDecryptionFailure(), false);
}

/** Waits until `client` has the room and sees it as encrypted (its crypto learnt m.room.encryption). */
async function waitForEncryptedRoom(client, roomId) {
  await waitForMembership(client, roomId, "join", 15_000);
  await poll(() => client.getCrypto().isEncryptionEnabledInRoom(roomId), `${roomId} to be encrypted for ${client.getUserId()}`);
}

/**
 * Alice and Bob, both with Rust crypto and syncing, in an encrypted room
 * Alice created and Bob joined; Alice's crypto knows Bob's device (the
 * SDK's own key query after Bob's join), so her first message is shared
 * with it. Stop them with stopAll(alice, bob).
 */
async function encryptedRoomOfTwo(server) {
  const alice = await cryptoClient(await registerClient(server, "alice"));
  const bob = await cryptoClient(await registerClient(server, "bob"));
  try {
    await startSyncing(alice);
    await startSyncing(bob);
    const { room_id: roomId } = await alice.createRoom({
      invite: [bob.getUserId()],
      initial_state: [ENCRYPTION_STATE],
    });
    await waitForMembership(bob, roomId, "invite");
    await bob.joinRoom(roomId);
    await waitForEncryptedRoom(bob, roomId);
    await waitForEncryptedRoom(alice, roomId);
    await waitForEvent(
      alice,
      roomId,
      (e) => e.getType() === "m.room.member" && e.getStateKey() === bob.getUserId() && e.getContent().membership === "join",
      "bob's join",
    );
    await poll(
      async () => (await knownDevices(alice, bob.getUserId())).includes(bob.getDeviceId()),
      "alice's crypto to know bob's device",
    );
    return { alice, bob, roomId };
  } catch (e) {
    stopAll(alice, bob);
    throw e;
  }
}

describe("end-to-end encryption with matrix-js-sdk's Rust crypto", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("a Megolm message from Alice decrypts on Bob's unverified device", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await encryptedRoomOfTwo(server);
    try {
      for (const c of [alice, bob]) {
        assert.match(c.getCrypto().getVersion(), /^Rust SDK/);
        // Nobody is cross-signed here: sending to unverified devices must be on.
        assert.equal(c.getCrypto().globalBlacklistUnverifiedDevices, false);
      }
      // The server published both devices' identity keys as uploaded.
      const own = await bob.getCrypto().getOwnDeviceKeys();
      const aliceView = (await alice.getCrypto().getUserDeviceInfo([bob.getUserId()])).get(bob.getUserId());
      const bobDevice = aliceView.get(bob.getDeviceId());
      assert.equal(bobDevice.getIdentityKey(), own.curve25519);
      assert.equal(bobDevice.getFingerprint(), own.ed25519);

      const body = unique("secret");
      const { event_id: eventId } = await alice.sendTextMessage(roomId, body);
      const ev = await receiveDecrypted(bob, roomId, eventId, "alice's encrypted message");
      assertDecrypted(ev, body, alice.getUserId());

      // The server only ever saw ciphertext.
      const raw = await server.request(
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
        undefined,
        bob.getAccessToken(),
      );
      assert.equal(raw.status, 200, JSON.stringify(raw.json));
      assert.equal(raw.json.type, "m.room.encrypted");
      assert.ok(!JSON.stringify(raw.json).includes(body));
    } finally {
      stopAll(alice, bob);
    }
  });

  test("Bob's new device comes to Alice through /sync device_lists and decrypts", { timeout: TEST_TIMEOUT }, async () => {
    const { alice, bob, roomId } = await encryptedRoomOfTwo(server);
    let bob2;
    try {
      // A first message sets up Alice's outbound session with Bob's first device.
      const first = unique("first");
      const { event_id: firstId } = await alice.sendTextMessage(roomId, first);
      assertDecrypted(await receiveDecrypted(bob, roomId, firstId, "the first message"), first, alice.getUserId());

      bob2 = await cryptoClient(await loginClient(server, bob.getUserId()));
      assert.notEqual(bob2.getDeviceId(), bob.getDeviceId());
      await startSyncing(bob2);
      await waitForEncryptedRoom(bob2, roomId);

      // No key download asked for here: Alice's SDK re-queries Bob's keys
      // because /sync lists him in device_lists.changed.
      const devices = await poll(async () => {
        const ids = await knownDevices(alice, bob.getUserId());
        return ids.includes(bob2.getDeviceId()) ? ids : null;
      }, "alice's crypto to learn bob's second device");
      assert.deepEqual(devices.sort(), [bob.getDeviceId(), bob2.getDeviceId()].sort());

      const second = unique("second");
      const { event_id: secondId } = await alice.sendTextMessage(roomId, second);
      assertDecrypted(await receiveDecrypted(bob2, roomId, secondId, "the second message"), second, alice.getUserId());
      assertDecrypted(await receiveDecrypted(bob, roomId, secondId, "the second message"), second, alice.getUserId());
    } finally {
      stopAll(alice, bob, bob2);
    }
  });

  test("a to-device message is delivered once, and its txn id makes a resend idempotent", { timeout: TEST_TIMEOUT }, async () => {
    const alice = await cryptoClient(await registerClient(server, "alice"));
    const bob = await registerClient(server, "bob");
    let bob2;
    try {
      await startSyncing(alice);
      bob2 = await cryptoClient(await loginClient(server, bob.getUserId()));
      // Short long-polls, so that several syncs go by quickly.
      await startSyncing(bob2, { pollTimeout: 500 });

      const type = "org.vigie.test.ping";
      const nonce = unique("n");
      const received = [];
      let syncs = 0;
      bob2.on(sdk.ClientEvent.ToDeviceEvent, (ev) => {
        if (ev.getType() === type) received.push(ev);
      });
      bob2.on(sdk.ClientEvent.Sync, () => {
        syncs++;
      });
      const ofNonce = () => received.filter((ev) => ev.getContent().nonce === nonce);

      const txnId = unique("txn");
      const content = { nonce, n: 1 };
      await alice.sendToDevice(type, new Map([[bob.getUserId(), new Map([[bob2.getDeviceId(), content]])]]), txnId);
      const [got] = await waitFor(
        bob2,
        sdk.ClientEvent.ToDeviceEvent,
        () => (ofNonce().length ? ofNonce() : null),
        "the to-device message",
      );
      assert.equal(got.getSender(), alice.getUserId());
      assert.deepEqual(got.getContent(), content);
      assert.equal(got.isEncrypted(), false);

      // The same request again by hand, same access token and txn id: the
      // server answers 200 and delivers nothing new.
      const path = `/_matrix/client/v3/sendToDevice/${encodeURIComponent(type)}/${encodeURIComponent(txnId)}`;
      const messages = { [bob.getUserId()]: { [bob2.getDeviceId()]: content } };
      const again = await server.request("PUT", path, { messages }, alice.getAccessToken());
      assert.equal(again.status, 200, JSON.stringify(again.json));
      assert.deepEqual(again.json, {});

      // A marker with a new txn id, sent after the resend, arrives: anything
      // the resend had queued would have been delivered by then.
      const marker = { nonce: `${nonce}-marker` };
      const markerPath = `/_matrix/client/v3/sendToDevice/${encodeURIComponent(type)}/${encodeURIComponent(unique("txn"))}`;
      const sent = await server.request(
        "PUT",
        markerPath,
        { messages: { [bob.getUserId()]: { [bob2.getDeviceId()]: marker } } },
        alice.getAccessToken(),
      );
      assert.equal(sent.status, 200, JSON.stringify(sent.json));
      await waitFor(
        bob2,
        sdk.ClientEvent.ToDeviceEvent,
        () => received.some((ev) => ev.getContent().nonce === marker.nonce),
        "the marker to-device message",
      );
      // And a few more syncs on top.
      const from = syncs;
      await waitFor(bob2, sdk.ClientEvent.Sync, () => syncs >= from + 3, "three more syncs");
      assert.equal(ofNonce().length, 1, `delivered ${ofNonce().length} times`);
      assert.equal(received.length, 2, JSON.stringify(received.map((ev) => ev.getContent())));
    } finally {
      stopAll(alice, bob, bob2);
    }
  });

  test(
    "room keys go to the server-side backup and a fresh device restores them",
    { timeout: BACKUP_TEST_TIMEOUT },
    async () => {
      const alice = await cryptoClient(await registerClient(server, "alice"));
      let fresh;
      try {
        await startSyncing(alice);
        const crypto = alice.getCrypto();
        const token = alice.getAccessToken();

        // A new backup version, its decryption key kept by this device's
        // crypto (no secret storage needed: the key matching the backup's
        // public key is what makes the SDK trust it).
        const enabled = waitFor(alice, CryptoEvent.KeyBackupStatus, (on) => on === true, "key backup enabled");
        await withTimeout(crypto.resetKeyBackup(), 15_000, "resetKeyBackup");
        await enabled;
        const version = await crypto.getActiveSessionBackupVersion();
        assert.ok(version, "an active backup version");
        const info = await server.request("GET", "/_matrix/client/v3/room_keys/version", undefined, token);
        assert.equal(info.status, 200, JSON.stringify(info.json));
        assert.equal(info.json.version, version);
        assert.equal(info.json.algorithm, "m.megolm_backup.v1.curve25519-aes-sha2");
        assert.equal(info.json.count, 0);
        assert.equal(typeof info.json.etag, "string");
        const key = await crypto.getSessionBackupPrivateKey();
        assert.ok(key instanceof Uint8Array && key.length === 32, "the backup decryption key");
        const trust = await crypto.isKeyBackupTrusted(info.json);
        assert.equal(trust.matchesDecryptionKey, true);

        const { room_id: roomId } = await alice.createRoom({ initial_state: [ENCRYPTION_STATE] });
        await waitForEncryptedRoom(alice, roomId);
        const bodies = [unique("backed-up"), unique("backed-up")];
        const ids = [];
        for (const b of bodies) ids.push((await alice.sendTextMessage(roomId, b)).event_id);

        // The SDK uploads the room key on its own.
        const uploaded = await poll(
          async () => {
            const r = await server.request("GET", "/_matrix/client/v3/room_keys/version", undefined, token);
            assert.equal(r.status, 200, JSON.stringify(r.json));
            return r.json.count > 0 ? r.json : null;
          },
          "the backup's count to go above 0",
          30_000,
          250,
        );
        assert.equal(uploaded.version, version);
        assert.notEqual(uploaded.etag, info.json.etag, "the etag changes with the keys");
        const keys = await server.request(
          "GET",
          `/_matrix/client/v3/room_keys/keys?version=${encodeURIComponent(version)}`,
          undefined,
          token,
        );
        assert.equal(keys.status, 200, JSON.stringify(keys.json));
        const sessions = keys.json.rooms?.[roomId]?.sessions;
        assert.ok(sessions && Object.keys(sessions).length >= 1, JSON.stringify(keys.json));
        const [sessionId] = Object.keys(sessions);
        const backedUp = sessions[sessionId];
        assert.equal(backedUp.first_message_index, 0);
        assert.equal(typeof backedUp.forwarded_count, "number");
        assert.equal(typeof backedUp.is_verified, "boolean");
        for (const f of ["ephemeral", "ciphertext", "mac"]) assert.equal(typeof backedUp.session_data[f], "string", f);
        assert.equal(uploaded.count, Object.values(keys.json.rooms).reduce((n, r) => n + Object.keys(r.sessions).length, 0));
        // The same key at the session's own path (what the SDK's per-session
        // backup downloader asks for).
        const one = await server.request(
          "GET",
          `/_matrix/client/v3/room_keys/keys/${encodeURIComponent(roomId)}/${encodeURIComponent(sessionId)}` +
            `?version=${encodeURIComponent(version)}`,
          undefined,
          token,
        );
        assert.equal(one.status, 200, JSON.stringify(one.json));
        assert.deepEqual(one.json, backedUp);
        // The messages were sent with that session.
        const raw = await server.request(
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(ids[0])}`,
          undefined,
          token,
        );
        assert.equal(raw.json.content.session_id, sessionId);

        // Alice's only other device goes away: nobody could forward the key
        // (the Rust crypto does not request keys from other devices anyway).
        alice.stopClient();

        // A fresh device with an empty crypto store.
        fresh = await cryptoClient(await loginClient(server, alice.getUserId()));
        await startSyncing(fresh);
        const events = await Promise.all(
          ids.map((id) => waitForEvent(fresh, roomId, (e) => e.getId() === id, `message ${id} on the fresh device`, 15_000)),
        );
        // Without the backup it cannot read them.
        for (const ev of events) {
          await withTimeout(fresh.decryptEventIfNeeded(ev), 15_000, "a first decryption attempt");
          assert.ok(ev.isDecryptionFailure(), `${ev.getId()} should not decrypt yet`);
        }

        const freshCrypto = fresh.getCrypto();
        await freshCrypto.storeSessionBackupPrivateKey(key, version);
        const result = await withTimeout(freshCrypto.restoreKeyBackup(), 15_000, "restoreKeyBackup");
        assert.equal(result.total, uploaded.count, JSON.stringify(result));
        assert.equal(result.imported, uploaded.count, JSON.stringify(result));

        for (const [i, ev] of events.entries()) assertDecrypted(await decrypted(fresh, ev), bodies[i], alice.getUserId());
      } finally {
        stopAll(alice, fresh);
      }
    },
  );
});
