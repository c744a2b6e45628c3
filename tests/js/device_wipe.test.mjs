// X-IM-4 remote wipe with the real matrix-js-sdk: the primary device orders
// the wipe of another device through vigie's io.vigie device endpoint; the
// wiped device's syncing client gets the SDK's logged-out signal
// (Session.logged_out with M_UNKNOWN_TOKEN, soft_logout false) carrying
// "io.vigie.wipe": true, which is where a client drops its stored data.

import { after, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";

import { loginClient, registerClient, sdk, sharedServer, startSyncing, stopAll, waitFor } from "./server.mjs";

const TEST_TIMEOUT = 30_000;

describe("X-IM-4 remote wipe with matrix-js-sdk", () => {
  const shared = sharedServer();
  let server;
  beforeEach(async () => {
    server = await shared.get();
  });
  after(() => shared.stop());

  test("a wiped device's client is logged out and told to wipe", { timeout: TEST_TIMEOUT }, async () => {
    const primary = await registerClient(server, "ann"); // the first device is the primary
    const lost = await loginClient(server, primary.getUserId());
    try {
      await startSyncing(lost);
      const loggedOut = waitFor(lost, sdk.HttpApiEvent.SessionLoggedOut, (err) => err, "Session.logged_out");

      const path = `/io.vigie/devices/${encodeURIComponent(lost.getDeviceId())}/wipe`;
      await primary.http.authedRequest(sdk.Method.Post, path, undefined, {});

      const err = await loggedOut;
      assert.equal(err.errcode, "M_UNKNOWN_TOKEN", String(err));
      assert.equal(err.httpStatus, 401);
      assert.equal(err.data.soft_logout, false);
      assert.equal(err.data["io.vigie.wipe"], true, JSON.stringify(err.data));

      // The device is gone from the user's list.
      const { devices } = await primary.getDevices();
      assert.deepEqual(
        devices.map((d) => d.device_id),
        [primary.getDeviceId()],
      );
    } finally {
      stopAll(primary, lost);
    }
  });
});
