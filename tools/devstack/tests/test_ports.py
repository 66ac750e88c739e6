"""The ports tests' servers listen on come from below the kernel's ephemeral range: a client
connecting anywhere between the pick and the bind cannot be given one of them."""

import socket
from pathlib import Path

from devstack import ports
from devstack.ports import free_port


def test_a_free_port_is_below_the_ephemeral_range_and_bindable():
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    picked = {free_port() for _ in range(50)}
    assert all(1024 <= port < first_ephemeral for port in picked)
    assert len(picked) > 40  # drawn at random, not the same one each time
    for port in list(picked)[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def _bindable_not_given(after: int) -> int:
    """A port above ``after`` that binds and free_port has not given out."""
    port = after + 1
    while port in ports._given or not ports.is_free(port):
        port += 1
    return port


def test_a_port_held_is_not_given_out(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", _bindable_not_given(20000)))
        taken = held.getsockname()[1]
        other = _bindable_not_given(taken)
        draws = iter([taken, taken, other])
        monkeypatch.setattr(ports.random, "randint", lambda low, high: next(draws))
        assert ports.free_port() == other


def test_a_port_given_out_is_not_given_again(monkeypatch):
    """A test may pick a port at collection and start its server minutes later: meanwhile the
    port is free, and must not go to another server."""
    given = free_port()
    other = _bindable_not_given(given)
    draws = iter([given, given, other])
    monkeypatch.setattr(ports.random, "randint", lambda low, high: next(draws))
    assert ports.free_port() == other
