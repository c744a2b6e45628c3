"""TLS from the config: the client API served over TLS 1.2+ with the
configured certificate, plain HTTP on that port refused cleanly."""
import http.client
import json
import re
import socket
import ssl
import subprocess
import time

import pytest

from test_hostile import PASSWORD, Reader, gauge, sync_poll, wait_for_gauge

VERSIONS = "/_matrix/client/versions"


@pytest.fixture
def cert(tmp_path):
    key, crt = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-days", "1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True)
    return key, crt


def test_client_api_over_tls(server_factory, cert):
    key, crt = cert
    s = server_factory({"tls": {"enabled": True, "certificate": str(crt),
                                "private_key": str(key)}})
    ctx = ssl.create_default_context(cafile=str(crt))
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
    conn.request("GET", VERSIONS)
    r = conn.getresponse()
    assert r.status == 200
    assert "v1.1" in json.loads(r.read())["versions"]
    assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    # Keep-alive over TLS: a second request on the same connection.
    conn.request("GET", "/_matrix/client/v3/nothing")
    r = conn.getresponse()
    assert r.status == 404
    assert json.loads(r.read())["errcode"] == "M_UNRECOGNIZED"
    conn.close()

    # Old protocol versions are refused.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw).do_handshake()

    # Plain HTTP on the TLS port: no answer, connection closed, server fine.
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        raw.sendall(f"GET {VERSIONS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        try:
            data = raw.recv(100)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/1.1 200")
    conn = http.client.HTTPSConnection("127.0.0.1", s.port, context=ctx, timeout=10)
    conn.request("GET", VERSIONS)
    assert conn.getresponse().status == 200
    conn.close()


def test_tls_config_needs_certificate_and_key(server_factory, cert):
    key, crt = cert
    s = server_factory({"tls": {"enabled": True, "certificate": str(crt),
                                "private_key": str(crt.parent / "missing.pem")}}, start=False)
    with pytest.raises(AssertionError):
        s.start()


def _tls_server_and_user(server_factory, cert):
    key, crt = cert
    s = server_factory({"tls": {"enabled": True, "certificate": str(crt),
                                "private_key": str(key)}})
    token = s.register("tls-user", PASSWORD)["access_token"]
    since = s.request("GET", "/_matrix/client/v3/sync?timeout=0", token=token).json["next_batch"]
    ctx = ssl.create_default_context(cafile=str(crt))

    def connect():
        raw = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return s, token, since, connect


def test_tls_long_polls_end_when_their_clients_send_close_notify(server_factory, cert):
    """Over TLS a client that hangs up sends close_notify first: bytes to
    read, which on plain TCP would be the next request. The server reads
    them through TLS, sees the end of the stream, and ends the poll then,
    not at its timeout (five minutes here)."""
    s, token, since, connect = _tls_server_and_user(server_factory, cert)
    waiters = gauge(s, "vigie_sync_waiters")
    socks = [connect() for _ in range(5)]
    try:
        for t in socks:
            t.sendall(sync_poll(token, since, 300000))
        wait_for_gauge(s, "vigie_sync_waiters", waiters + 5)  # all parked
        for t in socks:
            # close_notify, with the TCP connection left open; unwrap then
            # waits for the server's side, which closes.
            try:
                t.unwrap()
            except (OSError, ssl.SSLError):
                pass
        wait_for_gauge(s, "vigie_sync_waiters", waiters, seconds=5)
    finally:
        for t in socks:
            t.close()
    m = re.search(r'^vigie_http_requests_total\{route="[^"]*sync",status="499"\} (\S+)$',
                  s.metrics(), re.M)
    assert m and float(m.group(1)) >= 5, m


def test_tls_long_poll_with_a_pipelined_request_is_answered(server_factory, cert):
    """The bytes the server read during a poll over TLS were a request:
    the poll is answered at its timeout, then that request."""
    s, token, since, connect = _tls_server_and_user(server_factory, cert)
    waiters = gauge(s, "vigie_sync_waiters")
    with connect() as t:
        t.sendall(sync_poll(token, since, 1000))
        wait_for_gauge(s, "vigie_sync_waiters", waiters + 1)
        t.sendall(f"GET {VERSIONS} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.2)  # read by the server while the poll still waits
        assert gauge(s, "vigie_sync_waiters") == waiters + 1
        reader = Reader(t)
        r = reader.response()
        assert r is not None and r.status == 200 and "next_batch" in r.json, r
        r = reader.response()
        assert r is not None and r.status == 200 and "versions" in r.json, r
