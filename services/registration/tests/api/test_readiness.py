"""``/readyz`` with ``REQUIRE_WORKER_HEARTBEAT``: ready only while a decision worker beats."""

import redis
from registration_service.api.app import create_app
from registration_service.heartbeat import PREFIX, beat


def test_not_ready_until_a_decision_worker_beats(settings):
    client = create_app(settings.model_copy(update={"require_worker_heartbeat": True}))
    probe = client.test_client()
    store = redis.Redis.from_url(settings.redis_url)
    for key in store.scan_iter(match=PREFIX + "*"):  # left by earlier tests' workers
        store.delete(key)

    waiting = probe.get("/readyz")
    assert waiting.status_code == 503
    assert waiting.json["error"]["code"] == "not_ready"
    assert waiting.json["checks"] == {
        "database": "ok",
        "redis": "ok",
        "workers": "no decision worker has reported in 15 s",
    }

    beat(store, "decide0@test")
    ready = probe.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}
    assert 0 < store.ttl(PREFIX + "decide0@test") <= 15
    store.delete(PREFIX + "decide0@test")


def test_the_heartbeat_is_off_by_default(client):
    assert client.get("/readyz").json["checks"] == {"database": "ok", "redis": "ok"}
