"""Crashes, restarts and shutdowns of a live vigie: what a client was told
is stored must survive SIGKILL, and SIGTERM must stop the server cleanly and
promptly whatever its connections are doing."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import nio
import pytest

from conftest import VIGIE_BIN
from test_client_nio import PASSWORD, client, raw, uid

VERSIONS = "/_matrix/client/versions"


async def test_sigkill_then_restart_keeps_accounts_and_profiles(server_factory):
    s = server_factory({"registration": {"mode": "token"}})
    first_token = s.registration_token
    assert first_token
    async with client(s) as c:
        status, r = await raw(c, "POST", "/_matrix/client/r0/register", {
            "username": "durable", "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": first_token}})
        assert status == 200, r
        c.restore_login(r["user_id"], r["device_id"], r["access_token"])
        assert isinstance(await c.set_displayname("Durable D\u00fcrer"), nio.ProfileSetDisplayNameResponse)
        assert isinstance(await c.set_avatar("mxc://test.vigie/durable"), nio.ProfileSetAvatarResponse)
        assert isinstance(await c.update_device(c.device_id, {"display_name": "kept"}),
                          nio.UpdateDeviceResponse)
        token, device = c.access_token, c.device_id

    s.kill()  # SIGKILL: no shutdown code runs
    s.start()
    assert s.registration_token is None, "the first-start token is only printed once"

    async with client(s, "durable") as c:
        r = await c.login(PASSWORD)
        assert isinstance(r, nio.LoginResponse), r
        assert (await c.get_displayname()).displayname == "Durable D\u00fcrer"
        assert (await c.get_avatar()).avatar_url == "mxc://test.vigie/durable"
        devices = {d.id: d.display_name for d in (await c.devices()).devices}
        assert devices[device] == "kept" and len(devices) == 2
    # The token issued before the crash still works.
    async with client(s) as c:
        c.restore_login(uid("durable"), device, token)
        assert (await c.whoami()).user_id == uid("durable")
    # The unlimited first-start token is still usable, once more.
    async with client(s) as c:
        status, r = await raw(c, "POST", "/_matrix/client/r0/register", {
            "username": "second", "password": PASSWORD,
            "auth": {"type": "m.login.registration_token", "token": first_token}})
        assert status == 200, r
    assert "audit log intact" in s.cli("audit", "verify").stdout


def test_sigkill_under_write_load_loses_nothing_acknowledged(server_factory):
    s = server_factory()
    acknowledged: list[tuple[str, str]] = []  # (localpart, displayname)
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int):
        i = 0
        while not stop.is_set():
            name = f"load-{n}-{i}"
            i += 1
            try:
                reg = s.register(name, PASSWORD)
                dn = f"name {i}"
                r = s.request("PUT", f"/_matrix/client/v3/profile/{reg['user_id']}/displayname",
                              {"displayname": dn}, token=reg["access_token"], timeout=5)
                if r.status == 200:
                    with lock:
                        acknowledged.append((name, dn))
            except (OSError, AssertionError):
                if stop.is_set():
                    return
                raise

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    stop.set()
    s.kill()
    for t in threads:
        t.join(timeout=10)
    assert len(acknowledged) >= 4, acknowledged

    s.start()
    for name, dn in acknowledged:
        r = s.login(name, PASSWORD)
        assert r.status == 200, (name, r)
        r = s.request("GET", f"/_matrix/client/v3/profile/@{name}:test.vigie/displayname")
        assert r.status == 200 and r.json["displayname"] == dn, (name, r)
    assert "audit log intact" in s.cli("audit", "verify").stdout


def _open_keep_alive(s) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(f"GET {VERSIONS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    assert data.startswith(b"HTTP/1.1 200"), data
    return sock


def test_sigterm_with_idle_connections_exits_promptly(server_factory):
    # Long timeouts, so that only the shutdown can close these connections.
    s = server_factory({"limits": {"header_timeout_s": 60, "idle_timeout_s": 60,
                                   "body_timeout_s": 60}})
    idle = [_open_keep_alive(s) for _ in range(3)]
    silent = socket.create_connection(("127.0.0.1", s.port), timeout=10)  # never sends
    partial = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    partial.sendall(b"GET /_matrix/client/versions HTTP/1.1\r\nHost: ")
    time.sleep(0.2)
    elapsed = s.stop(timeout=20)  # asserts exit code 0 and no sanitizer report
    assert elapsed < 3, f"SIGTERM took {elapsed:.1f}s with idle connections open"
    for sock in idle + [silent, partial]:
        try:
            assert sock.recv(1) == b""
        except ConnectionResetError:
            pass
        sock.close()


def test_sigterm_with_a_body_never_sent_exits_promptly(server_factory):
    s = server_factory({"limits": {"header_timeout_s": 60, "idle_timeout_s": 60,
                                   "body_timeout_s": 60}})
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(b"POST /_matrix/client/v3/login HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    time.sleep(0.2)
    try:
        s.stop(timeout=4)  # raises (and SIGKILLs) if not gone within 4 s
    finally:
        sock.close()


def test_sigterm_lets_an_in_flight_request_finish(server_factory):
    # A costly Argon2 makes a login slow enough to signal during it.
    s = server_factory({"passwords": {"argon2_ops": 4, "argon2_mem_kib": 131072}})
    s.create_user("slowhash", PASSWORD)
    t0 = time.monotonic()
    assert s.login("slowhash", PASSWORD).status == 200
    one_login = time.monotonic() - t0

    result = {}

    def do_login():
        try:
            result["resp"] = s.login("slowhash", PASSWORD)
        except Exception as e:  # noqa: BLE001
            result["error"] = e

    t = threading.Thread(target=do_login)
    t.start()
    time.sleep(max(0.1, min(one_login / 3, 0.5)))  # connected and hashing by now
    elapsed = s.stop(timeout=20)
    t.join(timeout=20)
    assert "error" not in result, result
    assert result["resp"].status == 200, result
    assert elapsed < one_login + 5


def test_every_thread_blocks_the_stop_signals(server_factory):
    s = server_factory()
    pid = s.proc.pid
    unblocked = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        if int(task.name) == pid:
            continue  # the main thread, inside sigwait (which unblocks them there)
        status = (task / "status").read_text()
        mask = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M).group(1), 16)
        for sig in (signal.SIGINT, signal.SIGTERM):
            if not mask & (1 << (sig - 1)):
                unblocked.append((task.name, (task / "comm").read_text().strip(), sig.name))
    assert not unblocked, f"threads that would die of a stop signal: {unblocked}"


def test_sigint_is_a_clean_stop_too(server_factory):
    s = server_factory()
    time.sleep(0.3)  # see test_every_thread_blocks_the_stop_signals
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(timeout=20) == 0
    s.assert_no_sanitizer_report()
    # And the data directory can be served again at once.
    s.start()
    s.assert_alive()


def test_restart_many_times_on_the_same_data(server_factory):
    s = server_factory()
    reg = s.register("restarter", PASSWORD)
    for i in range(3):
        s.restart()  # SIGTERM, asserting a clean exit, then start
        r = s.request("GET", "/_matrix/client/v3/account/whoami", token=reg["access_token"])
        assert r.status == 200 and r.json["user_id"] == reg["user_id"], r


def _sanitized(binary: str) -> bool:
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out or "libtsan" in out


@pytest.mark.skipif(not _sanitized(VIGIE_BIN), reason="only a sanitizer build can see it")
def test_sigterm_right_after_database_work_is_clean(server_factory):
    s = server_factory()
    reg = s.register("racer", PASSWORD)
    for _ in range(12):
        s.request("GET", "/_matrix/client/v3/devices", token=reg["access_token"])
        s.restart()  # asserts no sanitizer report
