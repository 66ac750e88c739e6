"""The lottery service answers health, readiness and OpenAPI without a token. It has no other
endpoint yet, and a path that does not exist is a 404 (auth runs only for routes that exist)."""

from lottery_service.api.app import create_app
from lottery_service.migrate import upgrade
from lottery_service.settings import LotterySettings


def test_health_readiness_and_openapi(tmp_path, redis_server):
    url = f"sqlite:///{tmp_path / 'lottery.sqlite3'}"
    upgrade(url)
    client = create_app(LotterySettings(database_url=url, redis_url=redis_server.url)).test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json["checks"] == {"database": "ok", "redis": "ok"}
    assert client.get("/openapi.json").json["info"]["title"] == "Lottery service"
    assert client.get("/v1/anything").status_code == 404


def test_not_ready_without_redis(tmp_path):
    url = f"sqlite:///{tmp_path / 'lottery.sqlite3'}"
    client = create_app(
        LotterySettings(database_url=url, redis_url="redis://127.0.0.1:1/0")
    ).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["error"]["code"] == "not_ready"
