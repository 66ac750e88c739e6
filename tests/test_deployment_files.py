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
