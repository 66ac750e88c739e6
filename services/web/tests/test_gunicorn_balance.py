"""The web's gunicorn config spreads connections over its workers (real gunicorn, real kernel):
a page's kept-alive connection stays with the worker that accepted it, so an opening's burst
is only shared out as evenly as the connections were."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from devstack.ports import free_port

CONFIG = Path(__file__).parents[1] / "gunicorn.conf.py"
WORKERS = 4
CONNECTIONS = 200
APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def _sockets(workers: list[psutil.Process], port: int, status: str) -> list[int]:
    """Each worker's sockets on ``port`` in ``status`` (listening, or an accepted connection)."""
    return [
        sum(1 for c in w.net_connections("tcp") if c.status == status and c.laddr.port == port)
        for w in workers
    ]


def test_kept_alive_connections_are_spread_over_every_worker(tmp_path):
    (tmp_path / "tiny.py").write_text(APP)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIG)]
    command += ["--bind", f"127.0.0.1:{port}", "tiny:app"]
    env = {**os.environ, "WEB_CONCURRENCY": str(WORKERS), "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(command, cwd=tmp_path, env=env)
    clients: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:  # every worker booted and listening
            workers = psutil.Process(server.pid).children()
            if len(workers) == WORKERS and all(_sockets(workers, port, psutil.CONN_LISTEN)):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{WORKERS} workers not listening on {port} in 60 s")
        for _ in range(CONNECTIONS):  # one after another, as people arrive
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
            assert client.recv(1024).startswith(b"HTTP/1.1 200")
            clients.append(client)  # kept alive, as a browser keeps it
        held = sorted(_sockets(workers, port, psutil.CONN_ESTABLISHED))
        assert sum(held) == CONNECTIONS
        # 50 each expected; 20 is 5 standard deviations short. One shared socket: the least, 0-14.
        assert held[0] >= 20, held
    finally:
        for client in clients:
            client.close()
        server.terminate()
        server.wait(timeout=30)
