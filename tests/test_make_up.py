"""`make up`'s runner starts Redis and the three services, prints `ready`, serves the contract's
catalog endpoints, and stops everything on Ctrl-C."""

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from devstack.ports import free_port
from servicekit.auth import issue_token
from servicekit.settings import DEVELOPMENT_JWT_SECRET

pytestmark = pytest.mark.slow


def test_up_serves_the_catalog_and_stops_cleanly(tmp_path):
    ports = {
        name: free_port()
        for name in ("REGISTRATION_PORT", "PROFILE_PORT", "LOTTERY_PORT", "REDIS_PORT")
    }
    env = {**os.environ, "VAR_DIR": str(tmp_path), **{k: str(v) for k, v in ports.items()}}
    env.pop("JWT_SECRET", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.up"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        line = ""
        while not line.startswith("ready:"):
            line = process.stdout.readline()
            assert line or process.poll() is None, "devstack.up exited before it was ready"
            assert time.monotonic() < deadline, "not ready in 90 s"
        base = f"http://127.0.0.1:{ports['REGISTRATION_PORT']}"
        admin = {"Authorization": f"Bearer {issue_token(DEVELOPMENT_JWT_SECRET, 'admin', 'admin')}"}
        program = httpx.post(
            f"{base}/v1/programs",
            json={"name": "Splash", "grade_min": 7, "grade_max": 12},
            headers=admin,
        )
        assert program.status_code == 201
        catalog = httpx.get(f"{base}/v1/programs/{program.json()['id']}/catalog", headers=admin)
        assert catalog.json() == {"classes": []}
        for name in ("PROFILE_PORT", "LOTTERY_PORT"):
            assert httpx.get(f"http://127.0.0.1:{ports[name]}/readyz").status_code == 200
        assert (tmp_path / "registration.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stopped" in rest
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports['REGISTRATION_PORT']}/healthz")
