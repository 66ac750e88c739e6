"""Read by gunicorn from its working directory (the image's WORKDIR) or ``--config`` (``make up``,
the benchmarks): the server model every deployment of this web shares, its numbers from
:mod:`registration_service.capacity`, and JSON log lines with the request's X-Request-ID as
``correlation_id`` (servicekit.logging_setup)."""

import os

from registration_service import capacity
from servicekit.logging_setup import configure_logging

configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "registration-web")

# Open outcome streams are parked greenlets, so they never take the workers that accept
# requests; each costs a socket (see capacity for the numbers and the file-descriptor limit).
worker_class = "gevent"
worker_connections = capacity.WORKER_CONNECTIONS
workers = int(os.environ.get("WEB_CONCURRENCY", capacity.WEB_WORKERS))
# Open streams never finish by themselves: on a stop or a deploy, give the requests in flight a
# few seconds, then close the streams; their browsers reconnect by Last-Event-ID elsewhere.
graceful_timeout = 10
capacity.raise_open_files_limit()  # in the master, before it forks: the workers inherit it
