"""Celery settings every service shares, so delivery semantics never differ between teams."""

from __future__ import annotations

from typing import Any


def celery_config(broker_url: str, visibility_timeout: int) -> dict[str, Any]:
    """JSON only, acknowledge after the task ran, hand a dead worker's task to another.

    ``visibility_timeout`` (seconds) is how long Redis waits before redelivering a message that
    was reserved but never acknowledged; keep it the same in every service.
    """
    return {
        "broker_url": broker_url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {"visibility_timeout": visibility_timeout},
        "broker_connection_retry_on_startup": True,
        "task_create_missing_queues": True,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
        "timezone": "UTC",
    }
