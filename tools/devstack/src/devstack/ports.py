"""Loopback ports: find a free one, wait for one to answer, wait for a server on it to say
it serves."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import httpx

# Below the kernel's ephemeral range (32768-60999 by default), so no outgoing connection made
# between the pick and the server's bind can take the port: a port the kernel hands out
# (bind to 0) is an ephemeral one, and any client connecting meanwhile may be given it too.
LOW, HIGH = 20000, 32000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _below_ephemeral() -> tuple[int, int]:
    try:
        first = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return LOW, HIGH
    return LOW, min(HIGH, first - 1)  # empty when the ephemeral range starts below LOW


def is_free(port: int, reuse_address: bool = False) -> bool:
    """Whether a server could bind ``port`` on the loopback now. ``reuse_address`` binds as
    the servers do (SO_REUSEADDR), so the TIME_WAIT of a server just stopped does not count."""
    with socket.socket() as sock:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_given: set[int] = set()  # by this process: a port picked early and bound late is not given twice


def free_port() -> int:
    """A loopback port nothing holds now, outside the range outgoing connections draw from,
    and not given out before by this process."""
    low, high = _below_ephemeral()
    for _ in range(200 if high > low else 0):
        port = random.randint(low, high)
        if port in _given or not is_free(port):
            continue
        _given.add(port)
        return port
    with socket.socket() as sock:  # the low range is full: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
