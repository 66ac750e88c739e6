"""How many open pages one registration web process holds, and what that costs: every number
the server model needs, in one place, with the reasoning. ``gunicorn.conf.py`` (read by the
image, ``make up`` and the benchmarks) and the app factory read them from here; compose sets
the same file-descriptor limit.

- **Target**: an opening's whole audience keeps its outcome stream open: 10,000 pages on the
  default two web workers (the moonshot: 20,000), plus the requests they send. A gevent worker
  holds a page as one parked greenlet and one socket, so ``WORKER_CONNECTIONS`` per worker is
  the ceiling: 12,000 each leaves room for 20,000 pages over two workers and the requests of the
  rush (about 200 connections from a load balancer) on top.
- **File descriptors**: one per connection, plus the database pool (``DB_POOL_SIZE`` +
  ``DB_MAX_OVERFLOW``, 30), Redis (below) and a few files. Systems default to a soft limit of
  1,024, so the server raises its soft limit to the hard one at start
  (:func:`raise_open_files_limit`); the hard limit must be at least ``WORKER_CONNECTIONS`` +
  ``FD_HEADROOM`` (compose sets 65,536).
- **Redis connections per process, whatever the number of pages** (about 8, so 20,000 pages
  on two workers cost some 16-20 of Redis's 10,000 clients): the outcome fan-out's two (a
  blocking listener and a fetcher, :mod:`registration_service.outcome_fanout`), ``WEB_REDIS_POOL``
  for doorbells, readiness and scrapes, and ``WEB_BROKER_POOL`` connections for Celery's
  producer, which kombu may back with a socket more: 7 per process measured with 1,000 pages
  each, once 9 (``tests/test_audience.py`` holds it to 10, the fan-out to its two).
- **A slow page**: at most ``PAGE_MAX_BEHIND`` events wait for one page; past that it is closed
  and its browser resumes by ``Last-Event-ID``. A student has a handful of outcomes; a thousand
  is a client that stopped reading.
"""

from __future__ import annotations

import logging
import resource

WEB_WORKERS = 2
WORKER_CONNECTIONS = 12_000
FD_HEADROOM = 512
WEB_REDIS_POOL = 4
WEB_BROKER_POOL = 2
FANOUT_REDIS_CONNECTIONS = 2
PAGE_MAX_BEHIND = 1_000

log = logging.getLogger(__name__)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (children inherit it);
    returns the new soft limit, and warns when it cannot hold ``WORKER_CONNECTIONS``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < WORKER_CONNECTIONS + FD_HEADROOM:
        log.warning(
            "open files limited to %d: fewer than %d pages per worker; raise the hard limit",
            soft,
            WORKER_CONNECTIONS,
        )
    return soft
