"""The content repository against a live vigie: uploads and downloads with a
real client (matrix-nio 0.20), the authenticated Matrix 1.11 download and
thumbnail endpoints over raw HTTP, limits, safe response headers, the
create-then-upload flow, streamed downloads and Range requests, deletion
through the Synapse admin API and the garbage-collecting sweep, and
durability across SIGKILL.

nio 0.20 downloads through the legacy unauthenticated /_matrix/media/r0
paths, so the nio test enables [media] allow_unauthenticated_download.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import struct
import time
import zlib

import nio
import pytest

from conftest import SERVER_NAME
from tenant_helpers import create_tenant, create_user, login_admin, provider, audit_entries

PASSWORD = "correct horse battery"
NIO_CONFIG = nio.AsyncClientConfig(max_limit_exceeded=0, max_timeouts=0, request_timeout=60)
CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
       "style-src 'unsafe-inline'; object-src 'self';")
V1 = "/_matrix/client/v1/media"


def png(width: int, height: int) -> bytes:
    """A width x height RGB PNG (a gradient), without any image library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 128))
                           for x in range(width))
        for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def upload(server, token: str, data: bytes, content_type: str = "application/octet-stream",
           filename: str = "", path: str = "/_matrix/media/v3/upload"):
    q = f"?filename={filename}" if filename else ""
    return server.request("POST", path + q, body=data, token=token,
                          headers={"Content-Type": content_type})


def mxc_parts(uri: str) -> tuple[str, str]:
    assert uri.startswith(f"mxc://{SERVER_NAME}/"), uri
    server_name, media_id = uri[len("mxc://"):].split("/")
    assert media_id and all(c.isalnum() or c in "-_" for c in media_id), media_id
    return server_name, media_id


@pytest.fixture(scope="module")
def alice(server):
    return server.register("media_alice", PASSWORD)["access_token"]


def test_upload_and_authenticated_download(server, alice):
    r = upload(server, alice, b"hello media", "text/plain; charset=utf-8", "greeting.txt")
    assert r.status == 200, r
    s, mid = mxc_parts(r.json["content_uri"])
    d = server.request("GET", f"{V1}/download/{s}/{mid}", token=alice)
    assert d.status == 200, d
    assert d.body == b"hello media"
    assert d.header("content-type") == "text/plain; charset=utf-8"
    assert d.header("content-disposition") == "inline; filename*=UTF-8''greeting.txt"
    assert d.header("content-security-policy") == CSP
    assert d.header("x-content-type-options") == "nosniff"
    assert d.header("cross-origin-resource-policy") == "cross-origin"
    # The file name in the path wins.
    d = server.request("GET", f"{V1}/download/{s}/{mid}/other%20name.txt", token=alice)
    assert d.header("content-disposition") == "inline; filename*=UTF-8''other%20name.txt"
    # r0 upload path works too.
    r = upload(server, alice, b"r0", path="/_matrix/media/r0/upload")
    assert r.status == 200, r
    c = server.request("GET", f"{V1}/config", token=alice)
    assert c.status == 200 and c.json["m.upload.size"] == 52428800, c


def test_head_gives_the_headers_of_get_without_the_body(server, alice):
    data = b"head me" * 1000
    r = upload(server, alice, data, "text/plain", "h.txt")
    assert r.status == 200, r
    s, mid = mxc_parts(r.json["content_uri"])
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        auth = {"Authorization": f"Bearer {alice}"}
        # A streamed file, then a JSON answer, on one kept-alive connection:
        # a body sent after a HEAD would garble the next response.
        for path, size in ((f"{V1}/download/{s}/{mid}", len(data)),
                           ("/_matrix/client/versions", None)):
            conn.request("HEAD", path, headers=auth)
            h = conn.getresponse()
            assert h.status == 200, (path, h.status)
            assert h.read() == b""
            length = int(h.getheader("Content-Length"))
            conn.request("GET", path, headers=auth)
            g = conn.getresponse()
            body = g.read()
            assert g.status == 200
            assert len(body) == length == (size if size is not None else len(body))
            assert h.getheader("Content-Type") == g.getheader("Content-Type")
        # Only where GET is routed.
        conn.request("HEAD", "/_matrix/client/v3/login/nothing", headers=auth)
        assert conn.getresponse().status == 404
    finally:
        conn.close()


def test_authenticated_download_needs_a_token(server, alice):
    s, mid = mxc_parts(upload(server, alice, b"secret").json["content_uri"])
    r = server.request("GET", f"{V1}/download/{s}/{mid}")
    assert r.status == 401 and r.json["errcode"] == "M_MISSING_TOKEN", r
    r = server.request("GET", f"{V1}/thumbnail/{s}/{mid}?width=32&height=32")
    assert r.status == 401 and r.json["errcode"] == "M_MISSING_TOKEN", r
    # Legacy unauthenticated endpoints are off by default.
    for path in (f"/_matrix/media/v3/download/{s}/{mid}", f"/_matrix/media/r0/download/{s}/{mid}",
                 f"/_matrix/media/v3/thumbnail/{s}/{mid}?width=32&height=32"):
        r = server.request("GET", path)
        assert r.status == 404 and r.json["errcode"] == "M_NOT_FOUND", (path, r)


def test_missing_media_is_not_found(server, alice):
    for path in (f"{V1}/download/{SERVER_NAME}/doesnotexist",
                 f"{V1}/download/other.example/doesnotexist",
                 f"{V1}/thumbnail/{SERVER_NAME}/doesnotexist?width=32&height=32"):
        r = server.request("GET", path, token=alice)
        assert r.status == 404 and r.json["errcode"] == "M_NOT_FOUND", (path, r)


@pytest.mark.parametrize("content_type,name", [
    ("text/html", "page.html"),
    ("image/svg+xml", "pic.svg"),
    ("application/xhtml+xml", "x.xhtml"),
    ("TEXT/HTML; charset=utf-8", "upper.html"),
])
def test_active_content_is_an_attachment_with_the_sandbox_csp(server, alice, content_type, name):
    body = b"<html><script>alert(document.cookie)</script></html>"
    if "svg" in content_type:
        body = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    s, mid = mxc_parts(upload(server, alice, body, content_type, name).json["content_uri"])
    d = server.request("GET", f"{V1}/download/{s}/{mid}", token=alice)
    assert d.status == 200 and d.body == body
    assert d.header("content-disposition") == f"attachment; filename*=UTF-8''{name}"
    assert d.header("content-security-policy") == CSP
    assert d.header("x-content-type-options") == "nosniff"


def test_thumbnails(server, alice):
    s, mid = mxc_parts(upload(server, alice, png(300, 150), "image/png", "p.png").json["content_uri"])
    r = server.request("GET", f"{V1}/thumbnail/{s}/{mid}?width=96&height=96&method=scale",
                       token=alice)
    assert r.status == 200, r
    assert r.header("content-type") == "image/png"
    assert png_size(r.body) == (96, 48)
    assert r.header("content-security-policy") == CSP
    r = server.request("GET", f"{V1}/thumbnail/{s}/{mid}?width=64&height=64&method=crop",
                       token=alice)
    assert r.status == 200 and png_size(r.body) == (64, 64), r
    r = server.request("GET", f"{V1}/thumbnail/{s}/{mid}?width=64&height=64&method=zoom",
                       token=alice)
    assert r.status == 400 and r.json["errcode"] == "M_INVALID_PARAM", r
    r = server.request("GET", f"{V1}/thumbnail/{s}/{mid}?width=64", token=alice)
    assert r.status == 400 and r.json["errcode"] == "M_MISSING_PARAM", r
    s2, text = mxc_parts(upload(server, alice, b"plain", "text/plain").json["content_uri"])
    r = server.request("GET", f"{V1}/thumbnail/{s2}/{text}?width=64&height=64", token=alice)
    assert r.status == 400 and r.json["errcode"] == "M_UNKNOWN", r


def test_async_create_then_upload(server, alice):
    bob = server.register("media_bob", PASSWORD)["access_token"]
    r = server.request("POST", "/_matrix/media/v1/create", token=alice)
    assert r.status == 200, r
    assert r.json["unused_expires_at"] > time.time() * 1000
    s, mid = mxc_parts(r.json["content_uri"])
    d = server.request("GET", f"{V1}/download/{s}/{mid}?timeout_ms=0", token=alice)
    assert d.status == 504 and d.json["errcode"] == "M_NOT_YET_UPLOADED", d
    put = f"/_matrix/media/v3/upload/{s}/{mid}?filename=late.bin"
    r = server.request("PUT", put, body=b"by bob", token=bob)
    assert r.status == 403 and r.json["errcode"] == "M_FORBIDDEN", r
    r = server.request("PUT", put, body=b"by alice", token=alice,
                       headers={"Content-Type": "application/pdf"})
    assert r.status == 200 and r.json == {}, r
    r = server.request("PUT", put, body=b"again", token=alice)
    assert r.status == 409 and r.json["errcode"] == "M_CANNOT_OVERWRITE_MEDIA", r
    d = server.request("GET", f"{V1}/download/{s}/{mid}", token=bob)
    assert d.status == 200 and d.body == b"by alice"
    assert d.header("content-type") == "application/pdf"
    assert d.header("content-disposition") == "attachment; filename*=UTF-8''late.bin"
    r = server.request("PUT", f"/_matrix/media/v3/upload/{s}/unknownid", body=b"x", token=alice)
    assert r.status == 404 and r.json["errcode"] == "M_NOT_FOUND", r


def test_size_and_quota_limits(server_factory):
    s = server_factory({"limits": {"max_media_bytes": 100_000},
                        "media": {"user_quota_bytes": 150_000}})
    tok = s.register("quota", PASSWORD)["access_token"]
    r = upload(s, tok, os.urandom(100_001))
    assert r.status == 413 and r.json["errcode"] == "M_TOO_LARGE", r
    r = upload(s, tok, os.urandom(100_000))
    assert r.status == 200, r
    r = upload(s, tok, os.urandom(60_000))
    assert r.status == 429 and r.json["errcode"] == "M_LIMIT_EXCEEDED", r
    r = upload(s, tok, os.urandom(50_000))
    assert r.status == 200, r
    other = s.register("quota2", PASSWORD)["access_token"]
    assert upload(s, other, os.urandom(60_000)).status == 200
    c = s.request("GET", f"{V1}/config", token=tok)
    assert c.json["m.upload.size"] == 100_000


async def test_nio_upload_download_and_thumbnail(server_factory):
    s = server_factory({"media": {"allow_unauthenticated_download": True}})
    reg = s.register("nio_media", PASSWORD)
    c = nio.AsyncClient(s.url, config=NIO_CONFIG)
    try:
        c.restore_login(reg["user_id"], reg["device_id"], reg["access_token"])
        data = os.urandom(200_000)
        resp, keys = await c.upload(io.BytesIO(data), "application/octet-stream", "blob.bin",
                                    filesize=len(data))
        assert isinstance(resp, nio.UploadResponse), resp
        assert keys is None
        d = await c.download(resp.content_uri)
        assert isinstance(d, nio.DownloadResponse), d
        assert d.body == data
        assert d.filename == "blob.bin"
        image = png(120, 80)
        resp, _ = await c.upload(io.BytesIO(image), "image/png", "img.png", filesize=len(image))
        assert isinstance(resp, nio.UploadResponse), resp
        sn, mid = mxc_parts(resp.content_uri)
        t = await c.thumbnail(sn, mid, 60, 60, nio.ResizingMethod.scale)
        assert isinstance(t, nio.ThumbnailResponse), t
        assert png_size(t.body) == (60, 40)
        missing = await c.download(f"mxc://{SERVER_NAME}/nope")
        assert isinstance(missing, nio.DownloadError) and missing.status_code == "M_NOT_FOUND"
    finally:
        await c.close()
    # The authenticated path serves the same bytes.
    r = s.request("GET", f"{V1}/download/{sn}/{mid}", token=reg["access_token"])
    assert r.status == 200 and r.body == image


def test_acknowledged_uploads_survive_sigkill(server_factory):
    s = server_factory()
    tok = s.register("durable_media", PASSWORD)["access_token"]
    blobs = {}
    for i in range(20):
        data = os.urandom(1000 + i * 997)
        r = upload(s, tok, data)
        assert r.status == 200, r
        blobs[r.json["content_uri"]] = data
    created = s.request("POST", "/_matrix/media/v1/create", token=tok).json["content_uri"]
    s.kill()  # SIGKILL right after the last acknowledgement
    s.start()
    for uri, data in blobs.items():
        sn, mid = mxc_parts(uri)
        r = s.request("GET", f"{V1}/download/{sn}/{mid}", token=tok)
        assert r.status == 200 and r.body == data, (uri, r)
    # The reservation survived as well and can still be used once.
    sn, mid = mxc_parts(created)
    r = s.request("PUT", f"/_matrix/media/v3/upload/{sn}/{mid}", body=b"after", token=tok)
    assert r.status == 200, r


def test_range_requests(server, alice):
    data = bytes(range(256)) * 40  # 10240 bytes
    s, mid = mxc_parts(upload(server, alice, data, "video/mp4", "clip.mp4").json["content_uri"])
    url = f"{V1}/download/{s}/{mid}"

    def get(range_header=None, **headers):
        if range_header is not None:
            headers["Range"] = range_header
        return server.request("GET", url, token=alice, headers=headers)

    whole = get()
    assert whole.status == 200 and whole.body == data
    assert whole.header("accept-ranges") == "bytes"
    assert whole.header("content-length") == str(len(data))
    for header, first, last in [("bytes=0-99", 0, 99), ("bytes=100-", 100, 10239),
                                ("bytes=-500", 9740, 10239), ("bytes=10000-99999", 10000, 10239),
                                ("bytes=-999999", 0, 10239), ("BYTES=5-5", 5, 5)]:
        r = get(header)
        assert r.status == 206, (header, r)
        assert r.body == data[first:last + 1], header
        assert r.header("content-range") == f"bytes {first}-{last}/{len(data)}", header
        assert r.header("content-length") == str(last - first + 1), header
        # The safe headers are those of a whole download.
        assert r.header("content-type") == "video/mp4"
        assert r.header("content-disposition") == "inline; filename*=UTF-8''clip.mp4"
        assert r.header("content-security-policy") == CSP
        assert r.header("x-content-type-options") == "nosniff"
    for header in ("bytes=10240-", "bytes=20000-20001", "bytes=-0"):
        r = get(header)
        assert r.status == 416 and r.json["errcode"] == "M_UNKNOWN", (header, r)
        assert r.header("content-range") == f"bytes */{len(data)}", header
    # Several ranges, another unit, nonsense, a reversed range, or a
    # condition vigie cannot check: the whole file.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=5-1", "bytes=", "bytes=-"):
        r = get(header)
        assert r.status == 200 and r.body == data, (header, r)
    r = get("bytes=0-1", **{"If-Range": '"some-etag"'})
    assert r.status == 200 and r.body == data, r
    # An empty file has no byte to point at: served whole.
    s2, empty = mxc_parts(upload(server, alice, b"").json["content_uri"])
    r = server.request("GET", f"{V1}/download/{s2}/{empty}", token=alice,
                       headers={"Range": "bytes=0-"})
    assert r.status == 200 and r.body == b"", r
    # Thumbnails stay in memory and ignore Range.
    s3, img = mxc_parts(upload(server, alice, png(40, 40), "image/png").json["content_uri"])
    r = server.request("GET", f"{V1}/thumbnail/{s3}/{img}?width=32&height=32", token=alice,
                       headers={"Range": "bytes=0-3"})
    assert r.status == 200 and png_size(r.body) == (32, 32), r


def test_ranges_resume_a_large_download_over_keep_alive(server_factory):
    """A 10 MiB file comes back byte-exact whole, and in ranges over one
    keep-alive connection (the server keeps framing right after streaming)."""
    s = server_factory({"media": {"user_quota_bytes": 1 << 30}})
    tok = s.register("ranger", PASSWORD)["access_token"]
    data = os.urandom(10 * 1024 * 1024)
    r = s.request("POST", "/_matrix/media/v3/upload", body=data, token=tok,
                  headers={"Content-Type": "application/octet-stream"}, timeout=60)
    assert r.status == 200, r
    sn, mid = mxc_parts(r.json["content_uri"])
    url = f"{V1}/download/{sn}/{mid}"
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
    try:
        got = b""
        step = 3 * 1024 * 1024 + 17
        while len(got) < len(data):
            conn.request("GET", url, headers={"Authorization": f"Bearer {tok}",
                                              "Range": f"bytes={len(got)}-{len(got) + step - 1}"})
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 206, (resp.status, body[:200])
            got += body
        assert got == data
        conn.request("GET", url, headers={"Authorization": f"Bearer {tok}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == data
    finally:
        conn.close()


def test_admin_deletes_media_then_its_file(server_factory):
    s = server_factory({"media": {"user_quota_bytes": 150_000}})
    root = provider(s)
    tenant = create_tenant(root, "media")
    tenant_admin = login_admin(s, create_user(root, "tadmin", tenant, tenant_admin=True))
    tok = s.register("deluser", PASSWORD)["access_token"]
    other = s.register("deluser2", PASSWORD)["access_token"]
    data = os.urandom(100_000)
    sn, a = mxc_parts(upload(s, tok, data).json["content_uri"])
    _, b = mxc_parts(upload(s, other, data).json["content_uri"])
    sha = hashlib.sha256(data).hexdigest()
    blob = s.data_dir / "media" / sha[:2] / sha[2:4] / sha
    assert blob.exists()
    r = upload(s, tok, os.urandom(60_000))
    assert r.status == 429 and r.json["errcode"] == "M_LIMIT_EXCEEDED", r

    path = f"/_synapse/admin/v1/media/{sn}/{a}"
    r = s.request("DELETE", path, token=other)
    assert r.status == 403 and r.json["errcode"] == "M_FORBIDDEN", r
    # Another tenant's admin: as if the media did not exist.
    r = tenant_admin.req("DELETE", path)
    assert r.status == 404 and r.json["errcode"] == "M_NOT_FOUND", r
    r = root.req("DELETE", f"/_synapse/admin/v1/media/other.example/{a}")
    assert r.status == 400 and r.json["errcode"] == "M_INVALID_PARAM", r
    r = root.req("DELETE", path)
    assert r.status == 200 and r.json == {"deleted_media": [a], "total": 1}, r
    d = s.request("GET", f"{V1}/download/{sn}/{a}", token=tok)
    assert d.status == 404 and d.json["errcode"] == "M_NOT_FOUND", d
    r = root.req("DELETE", path)
    assert r.status == 404 and r.json["errcode"] == "M_NOT_FOUND", r
    # The other id names the same content: the file stays.
    assert blob.exists()
    d = s.request("GET", f"{V1}/download/{sn}/{b}", token=tok)
    assert d.status == 200 and d.body == data
    # The uploader's quota has room again.
    assert upload(s, tok, os.urandom(60_000)).status == 200
    r = root.req("DELETE", f"/_synapse/admin/v1/media/{sn}/{b}")
    assert r.status == 200, r
    assert not blob.exists()
    # A tenant admin deletes its own tenant's media.
    tenant_user = login_admin(s, create_user(root, "tuser", tenant))
    _, c = mxc_parts(upload(s, tenant_user.token, b"tenant file").json["content_uri"])
    r = tenant_admin.req("DELETE", f"/_synapse/admin/v1/media/{sn}/{c}")
    assert r.status == 200 and r.json == {"deleted_media": [c], "total": 1}, r
    entries = audit_entries(root, "admin.media.delete")
    assert [e["target"] for e in entries] == [f"mxc://{sn}/{x}" for x in (a, b, c)]
    assert [e["tenant_id"] for e in entries] == ["default", "default", tenant]
    assert entries[2]["actor"] == tenant_admin.user_id


def test_sweep_removes_files_no_media_names(server_factory):
    s = server_factory({"media": {"sweep_interval_s": 1}})
    tok = s.register("swept", PASSWORD)["access_token"]
    kept = os.urandom(5000)
    sn, mid = mxc_parts(upload(s, tok, kept).json["content_uri"])
    # What a crash between writing a file and committing its row leaves.
    orphan = os.urandom(5000)
    osha = hashlib.sha256(orphan).hexdigest()
    path = s.data_dir / "media" / osha[:2] / osha[2:4] / osha
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orphan)
    deadline = time.time() + 15
    while path.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert not path.exists()
    d = s.request("GET", f"{V1}/download/{sn}/{mid}", token=tok)
    assert d.status == 200 and d.body == kept


def test_throughput_10mib(server_factory, capsys):
    s = server_factory({"media": {"user_quota_bytes": 1 << 30}})
    tok = s.register("bulk", PASSWORD)["access_token"]
    data = os.urandom(10 * 1024 * 1024)
    t0 = time.perf_counter()
    r = s.request("POST", "/_matrix/media/v3/upload", body=data, token=tok,
                  headers={"Content-Type": "application/octet-stream"}, timeout=60)
    t1 = time.perf_counter()
    assert r.status == 200, r
    sn, mid = mxc_parts(r.json["content_uri"])
    d = s.request("GET", f"{V1}/download/{sn}/{mid}", token=tok, timeout=60)
    t2 = time.perf_counter()
    assert d.status == 200 and d.body == data
    with capsys.disabled():
        print(f"\n10 MiB upload {10 / (t1 - t0):.1f} MiB/s ({(t1 - t0) * 1000:.0f} ms), "
              f"download {10 / (t2 - t1):.1f} MiB/s ({(t2 - t1) * 1000:.0f} ms)")
