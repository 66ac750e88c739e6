"""Read by gunicorn from its working directory (the image's WORKDIR) or ``--config`` (``make
up``): gevent workers, since every open page holds its live streams (outcomes, seats) as parked
greenlets; JSON log lines."""

import os
from typing import Any

from servicekit.logging_setup import configure_logging

configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "web")

worker_class = "gevent"
worker_connections = 12_000
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
graceful_timeout = 10
# A page's next request follows a person's reading time: keep its connection that long (the
# default, 2 s, closed it under the next click).
keepalive = 30
# A listening socket of each worker's own (SO_REUSEPORT), the kernel spreading new connections
# over them by hash. On one shared socket every idle worker is woken and the last one active
# tends to win: of 200 browsers' kept-alive connections one of two workers held 114-133, of
# four workers one held 103 and another 0. That worker then served its share of the opening
# burst alone, with a core to spare beside it (200 pages at once: p99 250-324 ms, against
# 240 ms with this and 100/100; docs/benchmarks.md). A worker restarting drops what waits in
# its own queue.
reuse_port = True


def worker_exit(server: Any, worker: Any) -> None:  # gunicorn's hook: (server, worker)
    """A worker shutting down gives the outcomes listener's lease back, if it holds it: another
    process takes over within a second, not after the lease's 3 s (web_service.holdings)."""
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", {})
    holdings = extensions.get("web.holdings")
    if holdings is not None:
        holdings.stop()
