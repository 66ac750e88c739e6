"""The compose file and Dockerfiles hold together (no Docker engine runs here to try them)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"registration": 8001, "profile": 8002, "lottery": 8003}


def test_compose_gives_each_service_its_own_image_database_and_port():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "--appendonly" in services["redis"]["command"]
    assert "noeviction" in services["redis"]["command"]
    databases = set()
    for name, port in SERVICES.items():
        service = services[name]
        dockerfile = ROOT / service["build"]["dockerfile"]
        assert dockerfile.exists()
        text = dockerfile.read_text()
        assert f"--package {name}-service" in text and f"{name}-migrate" in text
        assert service["ports"] == [f"{port}:{port}"]
        url = service["environment"]["DATABASE_URL"]
        databases.add(url.rsplit("@", 1)[1])
        assert f"{name}-db" in service["depends_on"]
    assert len(databases) == 3, "each service owns its database"


def test_compose_runs_every_background_process_make_up_runs():
    """Decision workers and each service's relay run in production as they do in ``make up``."""
    import importlib.util

    from devstack.up import SERVICES

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = [
        service["command"][2:]
        for service in compose["services"].values()
        if service.get("command", [""])[0] == "python"
    ]
    modules = {command[0] for command in commands}
    wanted = {args[0] for service in SERVICES for args in service.background}
    assert modules == wanted
    for module in modules:
        assert importlib.util.find_spec(module) is not None
    indexes = sorted(c[2] for c in commands if c[0] == "registration_service.worker.run")
    assert indexes == ["0", "1"]
