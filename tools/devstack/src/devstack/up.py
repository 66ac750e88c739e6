"""``make up``: Redis (supervised like the rest: a dead one starts again on the same data),
migrations, the three services, the decision workers, each service's
background process (outbox relay, sweeper, event consumers) and Flower, in the foreground.
Prints a line with ``ready`` once every service answers ``/readyz`` (registration's counts its
decision workers' heartbeats); a process that exits is started again after a back-off (see
:mod:`devstack.supervise`), and ``VAR_DIR/up.json`` lists each process's name and pid.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import httpx

from devstack.ports import is_free, wait_for_port, wait_until_serving
from devstack.redis_server import RedisServer
from devstack.supervise import Supervisor

ROOT = Path(__file__).resolve().parents[4]
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
DECISION_WORKERS = int(os.environ.get("DECISION_WORKERS", 2))
FLOWER_PORT = int(os.environ.get("FLOWER_PORT", 5555))
# Each request's line on the terminal, for a developer watching ``make up``. The images write
# none (gunicorn's default), and the benchmarks run as the images do (ACCESS_LOG=0): a line per
# request through a pipe cost the web a fifth of its time per catalog page.
ACCESS_LOG = ["--access-logfile", "-"] if os.environ.get("ACCESS_LOG", "1") != "0" else []

# The registration web holds one Server-Sent Events stream per watching student: its own
# gunicorn.conf.py sets the gevent server model and its capacity (registration_service.capacity),
# as the image does. The other services answer short requests: threads suffice.
GEVENT = ["--config", str(ROOT / "services" / "registration" / "gunicorn.conf.py")]
THREADS = ["--threads", "8", "--preload"]
# gunicorn answers these itself, before the app, in plain text (not the JSON envelope):
# a request line over 8,190 bytes is a 414, more than 64 headers or one over 8,190 bytes a 431.
LIMITS = [
    "--limit-request-line",
    "8190",
    "--limit-request-fields",
    "64",
    "--limit-request-field_size",
    "8190",
]


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    port: int
    server_model: list[str]
    background: dict[str, list[str]] = field(default_factory=dict)  # name -> python -m args

    @property
    def database_url(self) -> str:
        default = f"sqlite:///{VAR / (self.name + '.sqlite3')}"
        return os.environ.get(f"{self.name.upper()}_DATABASE_URL", default)

    def web_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            *self.server_model,
            *LIMITS,
            "--graceful-timeout",
            "5",
            *ACCESS_LOG,
            "--log-level",
            "warning",
            f"{self.package}.api.app:create_app()",
        ]


# One run at a time: a solve takes a core for up to its time limit.
LOTTERY_WORKER = [
    "celery",
    "-A",
    "lottery_service.worker.celery_app",
    "worker",
    "-Q",
    "lottery.solve",
    "--pool",
    "solo",
    "-n",
    "lottery@%h",
    "-l",
    "warning",
]

IDENTITY_PORT = int(os.environ.get("IDENTITY_PORT", 8004))
WEB_PORT = int(os.environ.get("WEB_PORT", 8000))
WEB_ACCOUNT_EMAIL = "web@example.org"  # the web's own (student-role) account
WEB_ACCOUNT_PASSWORD_FILE = VAR / "web-account-password"
KEYS_DIR = VAR / "identity-keys"
DEV_ADMIN_EMAIL = "admin@example.org"
DEV_ADMIN_PASSWORD_FILE = VAR / "dev-admin-password"

SERVICES = [
    Service(
        "identity",
        "identity_service",
        IDENTITY_PORT,
        THREADS,
        background={"identity-relay": ["identity_service.worker.relay"]},
    ),
    Service(
        "registration",
        "registration_service",
        int(os.environ.get("REGISTRATION_PORT", 8001)),
        GEVENT,
        background={
            **{
                f"registration-worker-{i}": [
                    "registration_service.worker.run",
                    "--index",
                    str(i),
                    "--workers",
                    str(DECISION_WORKERS),
                ]
                for i in range(DECISION_WORKERS)
            },
            "registration-relay": ["registration_service.worker.relay"],
            # Flower watches the registration broker (the one Redis); local use, no login.
            "flower": [
                "celery",
                "-A",
                "registration_service.worker.celery_app",
                "flower",
                f"--port={FLOWER_PORT}",
                "--address=127.0.0.1",
            ],
        },
    ),
    Service(
        "profile",
        "profile_service",
        int(os.environ.get("PROFILE_PORT", 8002)),
        THREADS,
        background={"profile-relay": ["profile_service.worker.relay"]},
    ),
    Service(
        "lottery",
        "lottery_service",
        int(os.environ.get("LOTTERY_PORT", 8003)),
        THREADS,
        background={
            "lottery-worker": LOTTERY_WORKER,
            "lottery-relay": ["lottery_service.worker.relay"],
        },
    ),
]


def _metrics_dir(service: Service) -> Path:
    """One directory per service, shared by its web, workers and relay: the web's /metrics
    adds up every process of the service (prometheus-client's multiprocess mode)."""
    return VAR / "metrics" / service.name


def _env(service: Service, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": service.database_url,
        "REDIS_URL": redis_url,
        # Every service trusts the identity service's public keys; identity signs with the key
        # under var/ (make token signs with it too) and writes messages as files under var/mail.
        "JWT_JWKS_URL": f"http://127.0.0.1:{IDENTITY_PORT}/.well-known/jwks.json",
        "KEYS_DIR": str(KEYS_DIR),
        "MAIL_DIR": str(VAR / "mail"),
        # Links in messages open the web's pages; sign-ins come through the web, whose
        # X-Forwarded-For names the person's address for the per-address limit.
        "PUBLIC_URL": f"http://127.0.0.1:{WEB_PORT}",
        "FORWARDED_FOR_DEPTH": "1",
        # Ready means someone decides requests: registration's /readyz asks for a heartbeat.
        "REQUIRE_WORKER_HEARTBEAT": "true",
        "PROMETHEUS_MULTIPROC_DIR": str(_metrics_dir(service)),
    }


def _development_admin() -> str:
    """The signing key and an admin to sign in as, made on the first start; how to sign in."""
    from identity_service.adapters.db import make_session_factory
    from identity_service.domain.accounts import Role
    from identity_service.keys import KeyRing
    from identity_service.use_cases import accounts

    KeyRing(KEYS_DIR).ensure()
    identity = next(s for s in SERVICES if s.name == "identity")
    engine, sessions = make_session_factory(identity.database_url)
    made = (
        (DEV_ADMIN_EMAIL, "Organiser", Role.ADMIN, DEV_ADMIN_PASSWORD_FILE),
        (WEB_ACCOUNT_EMAIL, "The web", Role.STUDENT, WEB_ACCOUNT_PASSWORD_FILE),
    )
    with sessions() as session, session.begin():
        for email, name, role, password_file in made:
            if accounts.find_by_email(session, email) is None or not password_file.exists():
                password = secrets.token_urlsafe(12)
                found = accounts.find_by_email(session, email)
                if found is not None:
                    session.delete(found)
                    session.flush()
                accounts.sign_up(session, accounts.NewAccount(email, password, name, role, True))
                password_file.write_text(password + "\n")
                password_file.chmod(0o600)
    engine.dispose()
    return (
        f"sign in as the development admin: {DEV_ADMIN_EMAIL}, password in "
        f"{DEV_ADMIN_PASSWORD_FILE} (POST http://127.0.0.1:{IDENTITY_PORT}/v1/sessions)"
    )


def _start_processes(supervisor: Supervisor, redis_url: str) -> None:
    for service in SERVICES:
        import_module(f"{service.package}.migrate").upgrade(service.database_url)
        metrics = _metrics_dir(service)
        shutil.rmtree(metrics, ignore_errors=True)  # counts of an earlier run are not this one's
        metrics.mkdir(parents=True)
        env = _env(service, redis_url)
        supervisor.start(f"{service.name}-web", service.web_command(), env)
        for name, module_args in service.background.items():
            supervisor.start(name, [sys.executable, "-m", *module_args], env)


def _is_ready(service: Service) -> bool:
    try:
        url = f"http://127.0.0.1:{service.port}/readyz"
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _url(name: str) -> str:
    return next(f"http://127.0.0.1:{s.port}" for s in SERVICES if s.name == name)


def _start_web(supervisor: Supervisor, redis_url: str) -> None:
    """The pages on WEB_PORT: the browser's only origin, calling the services above."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "REGISTRATION_URL": _url("registration"),
        "PROFILE_URL": _url("profile"),
        "LOTTERY_URL": _url("lottery"),
        "IDENTITY_URL": f"http://127.0.0.1:{IDENTITY_PORT}",
        "WEB_ACCOUNT_EMAIL": WEB_ACCOUNT_EMAIL,
        "WEB_ACCOUNT_PASSWORD": WEB_ACCOUNT_PASSWORD_FILE.read_text().strip(),
        "COOKIE_SECURE": "false",
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "services" / "web" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{WEB_PORT}",
        *LIMITS,
        *ACCESS_LOG,
        "--log-level",
        "warning",
        "web_service.app:create_app()",
    ]
    supervisor.start("web", command, env)


def _wait_ready(supervisor: Supervisor, timeout: float = 90) -> None:
    """Every service answers ``/readyz``; processes that exit meanwhile are restarted."""
    deadline = time.monotonic() + timeout
    pending = list(SERVICES)
    while pending:
        supervisor.tend()
        pending = [service for service in pending if not _is_ready(service)]
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise TimeoutError(f"not ready after {timeout:.0f}s: {names}")
        time.sleep(0.2)


def _taken_ports(ports: dict[str, int]) -> list[str]:
    """The ports another program holds, named by their setting: found now, not after the
    readiness wait, with a gunicorn retrying its bind in a loop."""
    return [f"{name}={port}" for name, port in ports.items() if not is_free(port, True)]


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    redis_port = int(os.environ.get("REDIS_PORT", 6379))
    ports = {"WEB_PORT": WEB_PORT, "FLOWER_PORT": FLOWER_PORT, "REDIS_PORT": redis_port}
    ports |= {f"{s.name.upper()}_PORT": s.port for s in SERVICES}
    taken = _taken_ports(ports)
    if taken:
        sys.exit(
            f"in use by another program: {', '.join(taken)}. Stop it (an earlier make up?), "
            "or set these to free ports, e.g. WEB_PORT=9000 make up"
        )
    # Ctrl-C stops everything, even when started from a shell that ignores SIGINT for
    # background jobs (Python then leaves SIGINT ignored); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    redis = RedisServer(VAR / "redis", port=redis_port)
    supervisor = Supervisor(state_file=VAR / "up.json")
    try:
        supervisor.start("redis", redis.command(), dict(os.environ), stop_last=True)
        wait_for_port(redis.port, timeout=20)
        _start_processes(supervisor, redis.url)
        sign_in = _development_admin()
        _start_web(supervisor, redis.url)
        _wait_ready(supervisor)
        wait_until_serving(WEB_PORT, "/healthz", VAR, timeout=60)
        urls = f"web=http://127.0.0.1:{WEB_PORT}  " + "  ".join(
            f"{s.name}=http://127.0.0.1:{s.port}" for s in SERVICES
        )
        flower = f"flower=http://127.0.0.1:{FLOWER_PORT}"
        print(sign_in, flush=True)
        print(f"ready: {urls}  {flower}  redis={redis.url}  (Ctrl-C stops everything)", flush=True)
        while True:
            supervisor.tend()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        supervisor.stop()
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
