"""X-AC-1 / X-AC-2: where sessions come from. The tests build a small GeoIP
database (tests/integration/mmdb_writer.py) that places loopback networks
around the world, and connect from those addresses:

  127.1.0.0/16 Paris   127.2.0.0/16 Sydney   127.3.0.0/16 Lyon
  127.4.0.0/16 an anonymising VPN (Amsterdam)
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import mmdb_writer  # noqa: E402
from test_x1606_policy import (ADMIN, PASSWORD, make_tenant, make_user, notices_of,  # noqa: E402
                               put_policy)

PARIS, SYDNEY, LYON, VPN = "127.1.0.5", "127.2.0.5", "127.3.0.5", "127.4.0.5"


@pytest.fixture
def geo_env(server_factory, unique, tmp_path):
    db = tmp_path / "test-city.mmdb"
    assert mmdb_writer.main(["mmdb_writer", str(db)]) == 0
    s = server_factory({"registration": {"mode": "open"}, "geoip": {"database": str(db)}})
    admin = unique("root")
    s.create_user(admin, PASSWORD, admin=True)
    root = s.login(admin, PASSWORD).json["access_token"]
    t = unique("cirt")
    make_tenant(s, root, t)
    return s, root, t, unique


def anomalies(s, root):
    r = s.request("GET", f"{ADMIN}/audit?limit=1000", token=root)
    return [e["details"] for e in r.json["entries"] if e["action"] == "access.anomaly"]


def anomaly_notices(s, token):
    return [n["io.vigie.notice"] for n in notices_of(s, token)
            if n["io.vigie.notice"]["kind"] == "access.anomaly"]


def test_X_AC_1_impossible_travel_notifies_by_default(geo_env):
    s, root, t, unique = geo_env
    user = make_user(s, root, unique("u"), t)
    r = s.login(user, PASSWORD, source=PARIS)
    assert r.status == 200, r
    paris_token = r.json["access_token"]
    assert anomalies(s, root) == []
    # Sydney a few seconds later: impossible, flagged, allowed (notify).
    r = s.login(user, PASSWORD, source=SYDNEY)
    assert r.status == 200, r
    found = anomalies(s, root)
    assert found and "impossible_travel" in found[-1]["signals"]
    assert found[-1]["action"] == "notify" and found[-1]["requirement"] == "X-AC-1"
    # The user is told, on their devices (X-IM-3).
    notes = anomaly_notices(s, paris_token)
    assert notes and "impossible_travel" in notes[-1]["signals"]
    # Paris to Lyon is not flagged as impossible on its own (same device
    # set, 390 km) -- but it is simultaneous distant use with Sydney.
    before = len(anomalies(s, root))
    r = s.login(user, PASSWORD, source=LYON)
    assert r.status == 200
    assert len(anomalies(s, root)) == before + 1


def test_X_AC_1_block_refuses_the_far_login(geo_env):
    s, root, t, unique = geo_env
    assert put_policy(s, root, t, {"anomaly_action": "block"}).status == 200
    user = make_user(s, root, unique("u"), t)
    assert s.login(user, PASSWORD, source=PARIS).status == 200
    r = s.login(user, PASSWORD, source=SYDNEY)
    assert r.status == 403 and r.json["io.vigie.requirement"] == "X-AC-1", r
    assert anomalies(s, root)[-1]["action"] == "block"


def test_X_AC_1_block_on_a_request_revokes_the_session(geo_env):
    s, root, t, unique = geo_env
    assert put_policy(s, root, t, {"anomaly_action": "block"}).status == 200
    user = make_user(s, root, unique("u"), t)
    token = s.login(user, PASSWORD, source=PARIS).json["access_token"]
    whoami = "/_matrix/client/v3/account/whoami"
    assert s.request("GET", whoami, token=token, source=PARIS).status == 200
    # The same token, used from Sydney minutes later: a stolen session.
    r = s.request("GET", whoami, token=token, source=SYDNEY)
    assert r.status == 403 and r.json["io.vigie.requirement"] == "X-AC-1", r
    r = s.request("GET", whoami, token=token, source=PARIS)
    assert r.status == 401 and r.json["errcode"] == "M_UNKNOWN_TOKEN"


def test_X_AC_1_step_up_needs_the_primary(geo_env):
    s, root, t, unique = geo_env
    assert put_policy(s, root, t, {"anomaly_action": "step_up"}).status == 200
    user = make_user(s, root, unique("u"), t)
    primary = s.login(user, PASSWORD, source=PARIS).json
    r = s.login(user, PASSWORD, source=SYDNEY)
    assert r.status == 200, r
    far = r.json
    r = s.request("GET", "/_matrix/client/v3/sync?timeout=0", token=far["access_token"],
                  source=SYDNEY)
    assert r.status == 403 and r.json["io.vigie.device_state"] == "pending", r
    # The primary confirms it (X-IM-2's approval).
    r = s.request("POST",
                  f"/_matrix/client/v3/io.vigie/devices/{far['device_id']}/approve", {},
                  token=primary["access_token"], source=PARIS)
    assert r.status == 200, r
    r = s.request("GET", "/_matrix/client/v3/sync?timeout=0", token=far["access_token"],
                  source=SYDNEY)
    assert r.status == 200, r


def test_X_AC_2_reported_location_disagreeing_with_geoip(geo_env):
    s, root, t, unique = geo_env
    user = make_user(s, root, unique("u"), t)
    r = s.request("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
        "password": PASSWORD}, source=PARIS,
        headers={"X-Vigie-Location": "-33.87,151.21", "X-Vigie-Network": "4g"})
    assert r.status == 200, r
    found = anomalies(s, root)
    assert found and found[-1]["signals"] == ["location_disagreement"]
    assert found[-1]["requirement"] == "X-AC-2"
    # Agreeing signals are quiet.
    before = len(found)
    r = s.request("POST", "/_matrix/client/v3/login", {
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": user},
        "password": PASSWORD}, source=PARIS, headers={"X-Vigie-Location": "48.85,2.35"})
    assert r.status == 200
    assert len(anomalies(s, root)) == before


def test_X_AC_2_anonymising_network_is_a_signal(geo_env):
    s, root, t, unique = geo_env
    user = make_user(s, root, unique("u"), t)
    assert s.login(user, PASSWORD, source=VPN).status == 200
    found = anomalies(s, root)
    assert found and "anonymizer" in found[-1]["signals"]


def test_X_AC_1_off_records_but_does_not_flag(geo_env):
    s, root, t, unique = geo_env
    r = put_policy(s, root, t, {"anomaly_action": "off"})
    assert r.status == 202  # softening the action is a weakening (X-OR-1)
    users = s.request("GET", f"{ADMIN}/changes?state=pending", token=root)
    assert r.json["change_id"] in [c["change_id"] for c in users.json["changes"]]
