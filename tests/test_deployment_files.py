"""The compose file and Dockerfiles hold together (no Docker engine runs here to try them)."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"registration": 8001, "profile": 8002, "lottery": 8003, "identity": 8004}


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
    assert len(databases) == len(SERVICES), "each service owns its database"


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
    wanted = {
        args[0]
        for service in SERVICES
        for args in (
            service.background.values()
            if isinstance(service.background, dict)
            else service.background
        )
    }
    assert modules == wanted
    for module in modules:
        assert importlib.util.find_spec(module) is not None
    indexes = sorted(c[2] for c in commands if c[0] == "registration_service.worker.run")
    assert indexes == ["0", "1"]


def compose_services() -> dict:
    services: dict = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


ONE_SHOT_OK: set[str] = set()  # none today: every container is long-running


def test_compose_structure_holds_together():
    """What ``docker compose config`` would refuse, checked by hand (no Docker, no compose
    schema on this machine): every service has an image or a build, a restart policy and
    dependencies that exist (and are healthy when they must be), host ports are unique, and
    every web has a health check on its /readyz."""
    services = compose_services()
    known_keys = {
        "image", "build", "command", "environment", "ports", "depends_on", "restart",
        "healthcheck", "volumes", "tmpfs", "stop_grace_period", "ulimits",
    }  # fmt: skip
    host_ports = []
    for name, service in services.items():
        assert set(service) <= known_keys, f"{name}: unexpected {set(service) - known_keys}"
        assert "image" in service or "build" in service, name
        if name not in ONE_SHOT_OK:
            assert service.get("restart") == "unless-stopped", f"{name} is not restarted"
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            wanted = condition["condition"]
            assert wanted in {"service_healthy", "service_started"}, (name, wanted)
            if wanted == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
        for mapping in service.get("ports", []):
            host, container = mapping.split(":")
            host_ports.append(int(host))
            assert host == container, f"{name}: {mapping}"
        if "healthcheck" in service:
            check = service["healthcheck"]
            assert check["test"][0] == "CMD" and check["interval"], name
        env = service.get("environment") or {}
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            assert env["PROMETHEUS_MULTIPROC_DIR"] in service.get("tmpfs", []), name
    assert len(host_ports) == len(set(host_ports)), f"a host port is taken twice: {host_ports}"
    for name, port in SERVICES.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in test, name
    volumes = set(yaml.safe_load((ROOT / "docker-compose.yml").read_text())["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in volumes, f"{name}: undeclared volume {source}"
            else:
                assert (ROOT / source).exists(), f"{name}: {source} is not in the repository"


def test_redis_keeps_what_it_is_given():
    command = compose_services()["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    # A limit, so the runbook's alarm (80 % of maxmemory) has something to measure against.
    assert command[command.index("--maxmemory") + 1] == "1gb"


def test_flower_and_prometheus_run_and_prometheus_scrapes_every_service():
    services = compose_services()
    assert services["flower"]["ports"] == ["5555:5555"]
    assert "flower" in services["flower"]["command"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]
    mounted = [v for v in services["prometheus"]["volumes"] if v.startswith("./")]
    assert mounted == ["./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    targets = {
        target: job.get("metrics_path", "/metrics")
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    webs = {f"{name}:{port}": "/metrics" for name, port in SERVICES.items()}
    # Every process without a web (deciders, relays, the lottery worker) serves its own.
    headless = {
        name: service
        for name, service in services.items()
        if service.get("command") and service["command"][:2] == ["python", "-m"]
    }
    assert targets == webs | {f"{name}:9100": "/metrics" for name in headless}
    for target in webs:  # the target is the compose service, on the port it serves
        name, port = target.split(":")
        assert services[name]["ports"] == [f"{port}:{port}"]
    for name, service in headless.items():
        assert service["environment"]["METRICS_PORT"] == "9100", name


def test_the_service_images_run_as_nobody_and_read_a_gunicorn_config():
    for name, port in SERVICES.items():
        dockerfile = (ROOT / "services" / name / "Dockerfile").read_text()
        assert "\nUSER nobody\n" in dockerfile
        assert f"EXPOSE {port}" in dockerfile and f"0.0.0.0:{port}" in dockerfile
        assert f"WORKDIR /app/services/{name}" in dockerfile  # where gunicorn.conf.py is read
        assert (ROOT / "services" / name / "gunicorn.conf.py").exists()


def test_decision_workers_cover_every_partition_once():
    """Worker i of W takes partitions i, i+W, ...: the indexes are 0..W-1, all with the same W,
    and W is at most DECISION_PARTITIONS."""
    services = compose_services()
    run = "registration_service.worker.run"
    runs = [s["command"] for s in services.values() if run in s.get("command", [])]
    workers = {c[c.index("--workers") + 1] for c in runs}
    assert len(workers) == 1
    (count,) = workers
    assert sorted(int(c[c.index("--index") + 1]) for c in runs) == list(range(int(count)))
    partitions = int(services["registration"]["environment"]["DECISION_PARTITIONS"])
    assert int(count) <= partitions
