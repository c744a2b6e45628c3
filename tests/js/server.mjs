// A live `vigie serve` for the matrix-js-sdk tests, started the way the
// python fixture (tests/integration/conftest.py) starts it: a temporary
// config with port 0, open registration, cheap Argon2, generous rate limits,
// no metrics listener. The port is read from the "listening on" line.
//
//   VIGIE_BIN  the server binary (default /work/main/build/vigie)

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import assert from "node:assert/strict";
import { after } from "node:test";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

export const VIGIE_BIN = process.env.VIGIE_BIN || "/work/main/build/vigie";
export const SERVER_NAME = "test.vigie";
export const PASSWORD = "correct horse battery";
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const SANITIZER_MARKERS = ["Sanitizer", "runtime error:"];

// matrix-js-sdk 37.5.0 leaves timers behind after stopClient(): every
// request's local-timeout timer is never cleared (http-api/utils.js
// timeoutSignal; 110 s for a /sync long-poll), and a capabilities fetch in
// flight at stopClient() re-arms a 6-hour refresh. They would keep a test
// file's process alive long after its last test, so once a file's tests are
// done (after its own `after` hooks), the process exits; like
// --test-force-exit, which Node 20's runner only takes as a flag.
after(() => {
  setTimeout(() => process.exit(), 1000).unref();
});

// The SDK is chatty (push rule defaults, MatrixRTC, and every expected
// error response again): silent unless VIGIE_JS_SDK_LOG names a level
// (debug, info, warn, error). Its child loggers are made at DEBUG level with
// their parent's methodFactory, so silence is a factory of no-ops.
if (process.env.VIGIE_JS_SDK_LOG) {
  logger.setLevel(process.env.VIGIE_JS_SDK_LOG);
} else {
  logger.methodFactory = () => () => {};
  logger.rebuild();
}

// TOML tells floats from integers; JS numbers don't.
class Float {
  constructor(v) {
    this.v = v;
  }
}
const float = (v) => new Float(v);

function toml(v) {
  if (v instanceof Float) return Number.isInteger(v.v) ? `${v.v}.0` : String(v.v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(toml).join(", ") + "]";
  throw new TypeError(`cannot write ${v} as TOML`);
}

export function baseConfig(dataDir) {
  return {
    server: {
      server_name: SERVER_NAME,
      listen: ["127.0.0.1:0"],
      data_dir: dataDir,
      io_threads: 2,
      worker_threads: 4,
    },
    database: { engine: "sqlite", sqlite_synchronous: "NORMAL" },
    limits: { max_body_bytes: 65536, max_header_bytes: 16384, max_json_depth: 64 },
    registration: { mode: "open", min_password_length: 8 },
    passwords: { argon2_ops: 1, argon2_mem_kib: 8192, hash_threads: 2 },
    rate_limits: {
      per_ip: [float(100000), float(100000)],
      per_user: [float(100000), float(100000)],
      login_per_ip: [float(100000), float(100000)],
    },
    metrics: { enabled: false },
    logging: { level: "info", format: "text" },
  };
}

export class VigieServer {
  constructor(overrides = {}) {
    this.workdir = mkdtempSync(join(tmpdir(), "vigie-js-"));
    this.config = baseConfig(join(this.workdir, "data"));
    for (const [section, values] of Object.entries(overrides)) {
      this.config[section] = { ...(this.config[section] || {}), ...values };
    }
    this.configPath = join(this.workdir, "vigie.toml");
    writeFileSync(
      this.configPath,
      Object.entries(this.config)
        .map(([s, vals]) => `[${s}]\n` + Object.entries(vals).map(([k, v]) => `${k} = ${toml(v)}\n`).join(""))
        .join("\n"),
    );
    this.proc = null;
    this.port = 0;
    this.stdout = "";
    this.stderr = "";
    this.exited = null; // a promise of {code, signal}
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    accessSync(VIGIE_BIN, constants.X_OK);
    this.stdout = "";
    this.stderr = "";
    const proc = spawn(VIGIE_BIN, ["-c", this.configPath, "serve"], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => {
      this.stderr += d;
    });
    proc.stdout.setEncoding("utf8");
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        proc.kill("SIGKILL");
        reject(new Error(`vigie did not start in ${START_TIMEOUT_MS} ms:\n${this.stderr}`));
      }, START_TIMEOUT_MS);
      proc.stdout.on("data", (d) => {
        this.stdout += d;
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.stdout);
        if (m && !this.port) {
          this.port = Number(m[1]);
          clearTimeout(timer);
          resolve();
        }
      });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`vigie exited (${code ?? signal}) before listening:\n${this.stdout}${this.stderr}`));
      });
    });
    const r = await fetch(`${this.url}/_matrix/client/versions`);
    assert.equal(r.status, 200);
    return this;
  }

  assertNoSanitizerReport() {
    for (const m of SANITIZER_MARKERS) {
      assert.ok(!this.stderr.includes(m), `sanitizer report in vigie's stderr:\n${this.stderr.slice(-20000)}`);
    }
  }

  /** SIGTERM; asserts a clean exit (code 0, no sanitizer report). */
  async stop() {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = null;
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    let timer;
    const res = await Promise.race([
      this.exited,
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (res === null) {
      proc.kill("SIGKILL");
      await this.exited;
      throw new Error(`vigie did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM`);
    }
    this.assertNoSanitizerReport();
    assert.equal(res.code, 0, `vigie exited with ${res.code ?? res.signal}:\n${this.stderr.slice(-5000)}`);
  }

  /** Kills a server still running (after a failed test) and removes the data. */
  async cleanup() {
    if (this.proc) {
      this.proc.kill("SIGKILL");
      await this.exited;
      this.proc = null;
    }
    rmSync(this.workdir, { recursive: true, force: true });
  }

  /** Raw HTTP against the server: {status, json}. */
  async request(method, path, body, token) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = `Bearer ${token}`;
    const r = await fetch(this.url + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  }
}

/**
 * One server shared by the tests of a file, started by the first test that
 * asks for it. A server that fails to start fails every test that needs it
 * (a failing `before` hook would only mark them cancelled, which the runner
 * does not count as failures). Call `stop()` from the file's `after`.
 */
export function sharedServer(overrides) {
  let starting = null;
  return {
    get() {
      starting ??= startServer(overrides);
      return starting;
    },
    async stop() {
      if (!starting) return;
      let s;
      try {
        s = await starting;
      } catch {
        return; // it never started: that failure was reported by the tests
      }
      try {
        await s.stop();
      } finally {
        await s.cleanup();
      }
    },
  };
}

/** Starts a server; stop it with stop() and remove it with cleanup(). */
export async function startServer(overrides) {
  const s = new VigieServer(overrides);
  try {
    await s.start();
  } catch (e) {
    await s.cleanup();
    throw e;
  }
  return s;
}

export function unique(prefix = "u") {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * Registers a fresh user through the SDK's own registration flow (the UIA
 * dance: a first request for the flows, then m.login.dummy) and returns a
 * logged-in client that has not started syncing.
 */
export async function registerClient(server, prefix = "u") {
  const localpart = unique(prefix);
  const anon = sdk.createClient({ baseUrl: server.url });
  let session;
  try {
    await anon.registerRequest({ username: localpart, password: PASSWORD });
    assert.fail("registration without auth should ask for UIA");
  } catch (e) {
    assert.equal(e.httpStatus, 401, String(e));
    session = e.data.session;
    assert.ok(e.data.flows.some((f) => f.stages.includes("m.login.dummy")), JSON.stringify(e.data));
  }
  const reg = await anon.registerRequest({
    username: localpart,
    password: PASSWORD,
    auth: { type: "m.login.dummy", session },
  });
  assert.equal(reg.user_id, `@${localpart}:${SERVER_NAME}`);
  anon.stopClient();
  return sdk.createClient({
    baseUrl: server.url,
    userId: reg.user_id,
    accessToken: reg.access_token,
    deviceId: reg.device_id,
    // No retries of failed requests: a test must see what the server said.
    localTimeoutMs: 20_000,
  });
}

/** Logs an existing user in with m.login.password through the SDK. */
export async function loginClient(server, userId) {
  const anon = sdk.createClient({ baseUrl: server.url });
  const res = await anon.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password: PASSWORD,
  });
  anon.stopClient();
  return sdk.createClient({
    baseUrl: server.url,
    userId: res.user_id,
    accessToken: res.access_token,
    deviceId: res.device_id,
    localTimeoutMs: 20_000,
  });
}

/**
 * Resolves with the value of `check()` once it is truthy; `check` is re-run
 * on every emission of `event` (a name or an array of names) by `emitter`,
 * with the event's arguments, and once at the start without any. Rejects
 * after `ms` with `what` in the message, so a test fails instead of hanging.
 */
export function waitFor(emitter, event, check, what, ms = 10_000) {
  const events = Array.isArray(event) ? event : [event];
  const p = new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const e of events) emitter.off(e, listener);
      fn(v);
    };
    const listener = (...args) => {
      try {
        const v = check(...args);
        if (v) finish(resolve, v);
      } catch (e) {
        finish(reject, e);
      }
    };
    const timer = setTimeout(() => finish(reject, new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    for (const e of events) emitter.on(e, listener);
    try {
      const v = check();
      if (v) finish(resolve, v);
    } catch {
      // the check may need the event's arguments
    }
  });
  // A waiter set up before a step that then failed must not also report an
  // unhandled rejection after its test; awaiting it still throws.
  p.catch(() => {});
  return p;
}

/**
 * Starts syncing and resolves once the first sync has been processed. Unless
 * the caller brings its own filter, incremental syncs ask for up to 100
 * timeline events: the SDK does not fill the gap of a limited timeline (it
 * starts a new live timeline), so a test that counts events in the live
 * timeline must not see one because a few piled up between two syncs.
 */
export async function startSyncing(client, opts = {}) {
  if (!opts.filter) {
    const filter = new sdk.Filter(client.getUserId());
    filter.setTimelineLimit(100);
    opts = { ...opts, filter };
  }
  const ready = waitFor(
    client,
    sdk.ClientEvent.Sync,
    (state) => {
      if (state === "ERROR") throw new Error(`sync failed: ${client.getSyncStateData()?.error}`);
      return state === "PREPARED" || state === "SYNCING";
    },
    `${client.getUserId()}'s first sync`,
    15_000,
  );
  await client.startClient({ initialSyncLimit: 20, ...opts });
  await ready;
  return client;
}

/** Resolves with the room once `client` knows it with the membership wanted. */
export function waitForMembership(client, roomId, membership, ms = 10_000) {
  return waitFor(
    client,
    sdk.RoomEvent.MyMembership,
    (emitted) => {
      // The event can come before the client stores a new room.
      const room = emitted?.roomId === roomId ? emitted : client.getRoom(roomId);
      return room && room.getMyMembership() === membership ? room : null;
    },
    `${client.getUserId()} to see membership ${membership} in ${roomId}`,
    ms,
  );
}

/**
 * Resolves with the first live event of `roomId` in `client`'s timeline for
 * which `pred(event)` holds, looking at what the client already has first.
 */
export function waitForEvent(client, roomId, pred, what, ms = 10_000) {
  const known = () => {
    const room = client.getRoom(roomId);
    return room?.getLiveTimeline().getEvents().find((e) => pred(e)) ?? null;
  };
  return waitFor(
    client,
    sdk.RoomEvent.Timeline,
    (ev, room, toStart) => {
      if (ev === undefined) return known();
      if (toStart || room?.roomId !== roomId) return null;
      return pred(ev) ? ev : known();
    },
    `${client.getUserId()} to see ${what}`,
    ms,
  );
}

/** Asserts that `promise` rejects with a Matrix error (errcode, HTTP status). */
export async function assertMatrixError(promise, errcode, status) {
  await assert.rejects(withTimeout(promise, 15_000, `a request expected to fail with ${errcode}`), (e) => {
    assert.equal(e.errcode, errcode, String(e));
    assert.equal(e.httpStatus, status, String(e));
    return true;
  });
}

/**
 * The events after which a room's timeline may have changed: a new event, or
 * the server's echo of one of the client's own (which updates the local echo
 * in place).
 */
export const TIMELINE_CHANGES = [sdk.RoomEvent.Timeline, sdk.RoomEvent.LocalEchoUpdated];

/** Stops the clients' sync loops and their pending requests. */
export function stopAll(...clients) {
  for (const c of clients) c?.stopClient();
}

/**
 * Two syncing users in a fresh private room that alice created and bob
 * joined on invitation. Stop the clients with stopAll(alice, bob).
 */
export async function roomOfTwo(server, createOpts = {}) {
  const alice = await registerClient(server, "alice");
  const bob = await registerClient(server, "bob");
  try {
    await startSyncing(alice);
    await startSyncing(bob);
    const { room_id: roomId } = await alice.createRoom({ ...createOpts, invite: [bob.getUserId()] });
    await waitForMembership(bob, roomId, "invite");
    await bob.joinRoom(roomId);
    await waitForMembership(bob, roomId, "join");
    await waitForEvent(
      alice,
      roomId,
      (e) => e.getType() === "m.room.member" && e.getStateKey() === bob.getUserId() && e.getContent().membership === "join",
      "bob's join",
    );
    return { alice, bob, roomId };
  } catch (e) {
    stopAll(alice, bob);
    throw e;
  }
}

/** Matches a remote-echoed m.room.message with this body (and sender). */
export const isText = (body, sender) => (e) =>
  e.getType() === "m.room.message" && e.getContent().body === body && (!sender || e.getSender() === sender);

/** A promise rejecting on timeout, for awaiting anything that could hang. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export { sdk };
