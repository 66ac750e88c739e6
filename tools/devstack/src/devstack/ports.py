"""Loopback ports: find a free one, wait for one to answer, wait for a server on it to say
it serves."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"nothing answered on {host}:{port} within {timeout:.0f}s"
                ) from None
            time.sleep(0.05)


def wait_until_serving(port: int, path: str, log_dir: Path, timeout: float = 90) -> None:
    """Until ``GET path`` answers 200: gunicorn binds before its workers have built the app."""
    wait_for_port(port, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"port {port} not serving {path} after {timeout:.0f}s; see {log_dir}"
            )
        time.sleep(0.2)
