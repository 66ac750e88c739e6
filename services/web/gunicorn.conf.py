"""Read by gunicorn from its working directory (the image's WORKDIR) or ``--config`` (``make
up``): gevent workers, since every open page holds its live streams (outcomes, seats) as parked
greenlets; JSON log lines."""

import os

from servicekit.logging_setup import configure_logging

configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "web")

worker_class = "gevent"
worker_connections = 12_000
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
graceful_timeout = 10
# A page's next request follows a person's reading time: keep its connection that long (the
# default, 2 s, closed it under the next click).
keepalive = 30
