"""TLS from the config: the client API served over TLS 1.2+ with the
configured certificate, plain HTTP on that port refused cleanly."""
import http.client
import json
import socket
import ssl
import subprocess

import pytest

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
