"""Fixtures for vigie's integration tests: a real `vigie serve` process per
module (or per test when a test needs its own configuration), reached over
real sockets by real clients.

Run with Debian's interpreter, which has python3-matrix-nio:

    cd /work/main && /usr/bin/python3 -m pytest -q tests/integration

Environment:
  VIGIE_BIN      the server binary (default /work/main/build/vigie); point it
                 at an ASan/UBSan build to have sanitizer reports fail tests.
  VIGIE_TEST_PG  a PostgreSQL server URI (e.g. from
                 `scripts/pg-test-server.sh start DIR`). When set, every
                 server-backed test also runs against PostgreSQL, each server
                 on a fresh database created on that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import inspect
import json
import os
import queue
import re
import signal
import ssl
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest

VIGIE_BIN = os.environ.get("VIGIE_BIN", "/work/main/build/vigie")
PG_URI = os.environ.get("VIGIE_TEST_PG", "")
SERVER_NAME = "test.vigie"
# Sanitizer builds start slowly and run slowly.
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
SANITIZER_MARKERS = ("Sanitizer", "runtime error:")


# --------------------------------------------------------------------------
# Async tests without pytest-asyncio (not packaged for Debian's python3 here):
# an `async def test_...` runs in its own event loop.


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None


# --------------------------------------------------------------------------
# Raw HTTP.


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"Resp({self.status}, {self.body[:300]!r})"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {v!r} as TOML")


def base_config(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The tests' default configuration: any free port, fast Argon2, generous
    rate limits, short timeouts so that slow-client tests are quick."""
    return {
        "server": {
            "server_name": SERVER_NAME,
            "listen": ["127.0.0.1:0"],
            "data_dir": str(data_dir),
            "io_threads": 2,
            "worker_threads": 4,
        },
        "database": {"engine": "sqlite", "sqlite_synchronous": "NORMAL"},
        "limits": {
            "max_body_bytes": 65536,
            "max_header_bytes": 16384,
            "max_json_depth": 64,
            "header_timeout_s": 3,
            "body_timeout_s": 3,
            "idle_timeout_s": 3,
        },
        "registration": {"mode": "open", "min_password_length": 8},
        "passwords": {"argon2_ops": 1, "argon2_mem_kib": 8192, "hash_threads": 2},
        "rate_limits": {
            "per_ip": [100000.0, 100000.0],
            "per_user": [100000.0, 100000.0],
            "login_per_ip": [100000.0, 100000.0],
        },
        "metrics": {"enabled": True, "listen": "127.0.0.1:0"},
        "logging": {"level": "info", "format": "text"},
    }


def _merge(cfg: dict, overrides: dict) -> dict:
    for section, values in overrides.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


class PgDatabase:
    """A fresh database on the VIGIE_TEST_PG server, dropped afterwards."""

    def __init__(self, server_uri: str):
        self.server_uri = server_uri
        self.name = "vigie_it_" + uuid.uuid4().hex[:12]
        parts = urllib.parse.urlsplit(server_uri)
        self.uri = urllib.parse.urlunsplit(parts._replace(path="/" + self.name))
        self._psql(f'CREATE DATABASE "{self.name}"')

    def _psql(self, sql: str) -> None:
        subprocess.run(
            ["psql", self.server_uri, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class VigieServer:
    """One `vigie serve` process and its configuration and data directory.

    stop() and restart() keep the data (directory or PostgreSQL database), so
    a test can check what survives a crash or a restart.
    """

    def __init__(self, workdir: Path, engine: str, overrides: Optional[dict] = None):
        self.workdir = workdir
        self.engine = engine
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "data"
        self.config_path = workdir / "vigie.toml"
        self.pg: Optional[PgDatabase] = None
        cfg = base_config(self.data_dir)
        if engine == "postgres":
            self.pg = PgDatabase(PG_URI)
            cfg["database"] = {"engine": "postgres", "postgres_uri": self.pg.uri,
                               "postgres_pool": 4}
        _merge(cfg, overrides or {})
        self.config = cfg
        self.config_path.write_text(
            "".join(
                f"[{section}]\n"
                + "".join(f"{k} = {_toml_value(v)}\n" for k, v in values.items())
                + "\n"
                for section, values in cfg.items()
            )
        )
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self.metrics_port = 0
        self.registration_token: Optional[str] = None
        self.stdout_lines: list[str] = []
        self.runs = 0
        self.stderr_path = workdir / "stderr-0.log"

    # -- process control ---------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "VigieServer":
        assert not self.running
        self.runs += 1
        self.registration_token = None
        self.stderr_path = self.workdir / f"stderr-{self.runs}.log"
        stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [VIGIE_BIN, "-c", str(self.config_path), "serve"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        stderr.close()
        lines: "queue.Queue[Optional[str]]" = queue.Queue()

        def pump(proc=self.proc):
            for line in proc.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        want_metrics = self.config["metrics"].get("enabled", True)
        deadline = time.monotonic() + START_TIMEOUT_S
        self.port = self.metrics_port = 0
        while not self.port or (want_metrics and not self.metrics_port):
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.proc.kill()
                raise AssertionError(f"vigie did not start in time:\n{self.stderr_text()}")
            if line is None:
                self.proc.wait()
                raise AssertionError(
                    f"vigie exited ({self.proc.returncode}) before listening:\n"
                    + "".join(self.stdout_lines) + self.stderr_text())
            self.stdout_lines.append(line)
            if m := re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line):
                self.port = int(m.group(1))
            elif m := re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", line):
                self.metrics_port = int(m.group(1))
            elif m := re.search(r"registration token: (\S+)", line):
                self.registration_token = m.group(1)
        # Serving. This and the pause also give the main thread time to reach
        # its sigwait: until then a stop signal can kill the process outright
        # (see test_durability.py::test_every_thread_blocks_the_stop_signals).
        self.assert_alive()
        time.sleep(0.05)
        return self

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def assert_no_sanitizer_report(self) -> None:
        text = self.stderr_text()
        for marker in SANITIZER_MARKERS:
            at = text.find(marker)
            assert at < 0, (f"sanitizer report in vigie's stderr ({self.stderr_path}):\n"
                            + text[max(0, at - 3000):at + 20000])

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> float:
        """SIGTERM; asserts a clean exit (code 0, no sanitizer report).
        Returns how long the shutdown took."""
        assert self.proc is not None
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"vigie did not exit within {timeout}s of SIGTERM")
        elapsed = time.monotonic() - t0
        self.assert_no_sanitizer_report()
        assert rc == 0, f"vigie exited with {rc}:\n{self.stderr_text()[-5000:]}"
        return elapsed

    def kill(self) -> None:
        """SIGKILL: a crash, as far as the data is concerned."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.assert_no_sanitizer_report()

    def restart(self) -> "VigieServer":
        if self.running:
            self.stop()
        return self.start()

    def cleanup(self) -> None:
        if self.running:
            self.proc.kill()
            self.proc.wait()
        if self.pg:
            self.pg.drop()

    # -- command line --------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([VIGIE_BIN, "-c", str(self.config_path), *args],
                           capture_output=True, text=True, timeout=60)
        for marker in SANITIZER_MARKERS:
            assert marker not in r.stderr, r.stderr
        if check:
            assert r.returncode == 0, f"vigie {' '.join(args)}: {r.returncode}\n{r.stderr}"
        return r

    def create_user(self, localpart: str, password: str, admin: bool = False) -> str:
        """`vigie user create`; returns the user id."""
        args = ["user", "create", localpart, "-p", password] + (["--admin"] if admin else [])
        out = self.cli(*args).stdout
        m = re.search(r"created (@\S+)", out)
        assert m, out
        return m.group(1)

    def create_token(self, uses: Optional[int] = None) -> str:
        """`vigie token create`; returns the token."""
        args = ["token", "create"] + (["--uses", str(uses)] if uses else [])
        return self.cli(*args).stdout.strip().splitlines()[-1]

    # -- HTTP ------------------------------------------------------------------

    def request(self, method: str, path: str, json_body: Any = None, *,
                body: Optional[bytes] = None, token: Optional[str] = None,
                headers: Optional[dict[str, str]] = None, timeout: float = 15,
                source: Optional[str] = None) -> Resp:
        """`source` binds the client to a loopback address (e.g. "127.5.0.9"),
        so tests can come from different networks."""
        h = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if self.config.get("tls", {}).get("enabled"):
            # The test's own certificate: identity checks are test_tls.py's job.
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                              source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            resp = Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()
        return resp

    def register(self, localpart: str, password: str, **extra: Any) -> dict:
        """Registers over HTTP, through the configured UIA flow; returns the
        response (user_id, access_token, device_id)."""
        body = {"username": localpart, "password": password, **extra}
        r = self.request("POST", "/_matrix/client/v3/register", body)
        assert r.status == 401, r
        session = r.json["session"]
        if self.config["registration"]["mode"] == "token":
            auth = {"type": "m.login.registration_token", "session": session,
                    "token": self.registration_token}
        else:
            auth = {"type": "m.login.dummy", "session": session}
        r = self.request("POST", "/_matrix/client/v3/register", {**body, "auth": auth})
        assert r.status == 200, r
        return r.json

    def login(self, user: str, password: str, source: Optional[str] = None,
              **extra: Any) -> Resp:
        return self.request("POST", "/_matrix/client/v3/login", {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user},
            "password": password, **extra}, source=source)

    def metrics(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            r = conn.getresponse()
            assert r.status == 200
            return r.read().decode()
        finally:
            conn.close()

    def server_error_metrics(self) -> list[str]:
        """Lines of /metrics counting 5xx answers."""
        return [l for l in self.metrics().splitlines()
                if re.search(r'status="5\d\d"', l)]

    def assert_alive(self) -> None:
        assert self.running, f"vigie died:\n{self.stderr_text()[-5000:]}"
        r = self.request("GET", "/_matrix/client/versions", timeout=10)
        assert r.status == 200, r
        assert "versions" in r.json


# --------------------------------------------------------------------------
# Fixtures.

ENGINES = [
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.skipif(
        not PG_URI, reason="VIGIE_TEST_PG is not set")),
]


def pytest_configure(config):
    assert os.access(VIGIE_BIN, os.X_OK), (
        f"{VIGIE_BIN} is not executable: build it or set VIGIE_BIN")


@pytest.fixture(scope="module", params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    """A server shared by a test module: open registration, generous limits.
    Tests that share it use unique user names (see `unique`)."""
    s = VigieServer(tmp_path_factory.mktemp(f"vigie-{engine}"), engine)
    try:
        s.start()
        yield s
        s.stop()
    finally:
        s.cleanup()


@pytest.fixture
def server_factory(engine, tmp_path):
    """Makes servers with configuration overrides for one test:
    `server_factory({"registration": {"mode": "token"}}, start=True)`."""
    made: list[VigieServer] = []

    def make(overrides: Optional[dict] = None, start: bool = True) -> VigieServer:
        s = VigieServer(tmp_path / f"server{len(made)}", engine, overrides)
        made.append(s)
        return s.start() if start else s

    try:
        yield make
        for s in made:
            if s.running:
                s.stop()
    finally:
        for s in made:
            s.cleanup()


@pytest.fixture
def unique():
    """A fresh valid localpart per call: unique("alice") -> "alice-3f2a9c"."""
    return lambda prefix="u": f"{prefix}-{uuid.uuid4().hex[:8]}"
