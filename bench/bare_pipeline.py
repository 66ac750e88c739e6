"""Benchmark (a), the bare pipeline: the same web server model, broker, queues and solo worker
topology as the registration service, but the endpoint persists nothing and the task does
nothing but announce that it ran. What the machine can do before any registration logic."""

from __future__ import annotations

import os
import uuid

import redis
from celery import Celery
from flask import Flask, jsonify, request
from servicekit.celery_defaults import celery_config

BROKER = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
PARTITIONS = int(os.environ.get("DECISION_PARTITIONS", "8"))
OUTCOMES = "bench.bare.outcomes"

app = Celery("bare")
app.conf.update(celery_config(BROKER, 600))
_redis = redis.Redis.from_url(BROKER)


@app.task(name="bench.noop")
def noop(request_id: str) -> None:
    _redis.xadd(OUTCOMES, {"id": request_id})


def create_app() -> Flask:
    web = Flask(__name__)
    web.get("/healthz")(lambda: {"status": "ok"})

    @web.post("/v1/programs/<int:program_id>/registration-requests")
    def accept(program_id: int):
        section_id = int(request.get_json()["section_id"])
        request_id = uuid.uuid4().hex
        queue = f"registration.decide.{section_id % PARTITIONS}"
        app.send_task("bench.noop", args=[request_id], queue=queue)
        return jsonify(id=request_id, status="queued"), 202

    return web
