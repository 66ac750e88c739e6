"""Holdings: a student's sections kept for every web process until registration's outcomes
stream names them, on a real Redis; one process listens (by a lease), nothing is kept while
nobody listens, and nothing a read racing a change brings back."""

from __future__ import annotations

import runpy
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from devstack.redis_server import RedisServer
from servicekit.events import ENVELOPE_FIELD, Event
from web_service import events
from web_service.holdings import LEASE, NO_RETRY, TAKE_OVER_SECONDS, Holdings, student_named

ROWS = [{"section_id": 7, "class_id": 3, "verb": "Enrolled"}]


class Registration:
    """The registration service's answer, counting the times it is asked."""

    def __init__(self) -> None:
        self.asked = 0
        self.during: list[object] = []  # callables run while it answers (a change racing it)

    def __call__(self) -> list[dict]:
        self.asked += 1
        for act in self.during:
            act()  # type: ignore[operator]
        return [dict(row, n=self.asked) for row in ROWS]


@pytest.fixture
def client(redis_server):
    found = redis.Redis(port=redis_server.port, db=6)
    found.flushdb()  # this module's own database: versions left by another test move on
    yield found
    found.close()


@pytest.fixture
def holdings(client):
    port = client.connection_pool.connection_kwargs["port"]
    kept = Holdings(client, redis.Redis(port=port, db=6, retry=NO_RETRY))
    kept.start()
    assert kept.listening.wait(5)
    yield kept
    kept.close()


def publish(client, event_type: str, **payload) -> None:
    event = Event(event_type, "registration", payload)
    client.xadd(events.OUTCOMES_STREAM, {ENVELOPE_FIELD: event.to_json()})


def asks_again(holdings: Holdings, registration: Registration, timeout: float = 5.0) -> bool:
    """Whether a read goes to the registration service again within ``timeout``."""
    before = registration.asked
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holdings.read(1, 42, registration)
        if registration.asked > before:
            return True
        time.sleep(0.02)
    return False


def test_a_students_sections_are_asked_for_once_and_then_kept(holdings):
    registration = Registration()
    pages = [holdings.read(1, 42, registration) for _ in range(20)]
    assert registration.asked == 1
    assert pages == [[dict(ROWS[0], n=1)]] * 20


@pytest.mark.parametrize(
    "event_type", [events.OUTCOME_DECIDED, events.WAITLIST_PROMOTED, "registration.outcome.x.v2"]
)
def test_an_outcome_or_promotion_naming_the_student_drops_what_was_kept(
    client, holdings, event_type
):
    """A type the web does not know yet (a later version) drops the student it names too."""
    registration = Registration()
    holdings.read(1, 42, registration)
    publish(client, event_type, program_id=1, student_id=42, section_id=7, verb="Enrolled")
    assert asks_again(holdings, registration)
    assert holdings.read(1, 42, registration) == [dict(ROWS[0], n=2)]  # and kept again


def test_an_outcome_of_another_student_or_program_keeps_it(client, holdings):
    registration = Registration()
    holdings.read(1, 42, registration)
    publish(client, events.OUTCOME_DECIDED, program_id=1, student_id=43)
    publish(client, events.OUTCOME_DECIDED, program_id=2, student_id=42)
    assert not asks_again(holdings, registration, timeout=0.5)


def test_an_entry_it_cannot_read_drops_everything(client, holdings):
    registration = Registration()
    holdings.read(1, 42, registration)
    publish(client, events.OUTCOME_DECIDED, student_id=42)  # no program_id
    assert asks_again(holdings, registration)


def test_a_change_arriving_while_registration_answers_is_shown_but_not_kept(holdings):
    registration = Registration()
    registration.during.append(lambda: holdings.changed({(1, 42): "1700000000000-0"}))
    assert holdings.read(1, 42, registration) == [dict(ROWS[0], n=1)]
    registration.during.clear()
    holdings.read(1, 42, registration)
    assert registration.asked == 2  # the first answer may predate the change: not kept
    holdings.read(1, 42, registration)
    assert registration.asked == 2


def test_nothing_is_kept_past_its_seconds(holdings):
    holdings.seconds = 0.2
    registration = Registration()
    holdings.read(1, 42, registration)
    time.sleep(0.3)
    holdings.read(1, 42, registration)
    assert registration.asked == 2


def test_nothing_is_kept_while_nobody_listens(client):
    unheard = Holdings(client, None)  # never started: nobody holds the lease
    registration = Registration()
    for _ in range(3):
        unheard.read(1, 42, registration)
    assert registration.asked == 3
    assert client.get("web.holdings.1.42") is None  # nor kept for a listener to come


def test_nothing_is_kept_while_redis_is_away():
    nowhere = redis.Redis(port=9, socket_connect_timeout=0.2, retry=NO_RETRY)
    deaf = Holdings(nowhere, nowhere).start()
    registration = Registration()
    for _ in range(3):
        deaf.read(1, 42, registration)
    deaf.close()  # its listener would try Redis again every second for the whole run
    assert registration.asked == 3
    off = Holdings(None, None, seconds=0).start()
    for _ in range(3):
        off.read(1, 42, registration)
    assert registration.asked == 6


def test_a_redis_outage_drops_what_was_kept(tmp_path):
    """Entries published while the listener was away would be missed: while Redis is down every
    page asks, and nothing kept before the outage is shown after it."""
    server = RedisServer(tmp_path).start()
    client = redis.Redis(port=server.port, socket_timeout=2)
    listener = redis.Redis(port=server.port, socket_timeout=2, retry=NO_RETRY)
    holdings = Holdings(client, listener).start()
    try:
        assert holdings.listening.wait(5)
        registration = Registration()
        holdings.read(1, 42, registration)
        time.sleep(1.5)  # past the append-only file's once a second: what was kept is on disk
        server.stop()
        assert asks_again(holdings, registration)  # Redis away: every page asks
        deadline = time.monotonic() + 15
        while holdings.listening.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not holdings.listening.is_set()
        server.start()
        assert holdings.listening.wait(15)
        before = registration.asked
        holdings.read(1, 42, registration)
        holdings.read(1, 42, registration)
        assert registration.asked == before + 1  # asked again, then kept again
    finally:
        holdings.close()
        client.close()
        server.stop()


def test_a_version_never_goes_back_when_a_slower_process_marks_an_older_entry(holdings):
    """Each web process's listener marks every entry; one behind the other must not bring back
    the version an answer read before the newer entry was kept under."""
    holdings.changed({(1, 42): "1700000000000-4"})
    registration = Registration()

    def both_processes_hear_a_newer_entry() -> None:
        holdings.changed({(1, 42): "1700000000001-0"})  # the quicker one
        holdings.changed({(1, 42): "1700000000000-4"})  # the slower one, still on the old

    registration.during.append(both_processes_hear_a_newer_entry)
    holdings.read(1, 42, registration)  # read before the change: kept under the old version
    registration.during.clear()
    holdings.read(1, 42, registration)
    assert registration.asked == 2


def second_process(client) -> Holdings:
    port = client.connection_pool.connection_kwargs["port"]
    return Holdings(client, redis.Redis(port=port, db=6, retry=NO_RETRY)).start()


def test_one_process_listens_and_every_process_keeps(client, holdings):
    other = second_process(client)
    try:
        time.sleep(TAKE_OVER_SECONDS * 1.5)  # it has tried to take the lease, and could not
        assert not other.listening.is_set()
        registration = Registration()
        other.read(1, 42, registration)
        assert holdings.read(1, 42, registration) == [dict(ROWS[0], n=1)]  # kept for both
        publish(client, events.OUTCOME_DECIDED, program_id=1, student_id=42)
        assert asks_again(other, registration)  # heard by the listening one, for both
    finally:
        other.close()


def test_another_process_takes_over_from_a_stopped_listener_and_trusts_nothing_before(
    client, holdings
):
    other = second_process(client)
    try:
        registration = Registration()
        other.read(1, 42, registration)
        holdings.stop()  # gives the lease back
        assert other.listening.wait(TAKE_OVER_SECONDS * 3)
        other.read(1, 42, registration)
        assert registration.asked == 2  # entries may have gone unheard in between
        publish(client, events.OUTCOME_DECIDED, program_id=1, student_id=42)
        assert asks_again(other, registration)
    finally:
        other.close()


def test_a_killed_listeners_lease_runs_out_and_another_takes_it(client):
    """A listener killed outright cannot give its lease back: pages trust what was kept until
    the lease runs out, then every page asks until another process listens."""
    client.set(LEASE, "a killed process", px=2000)
    waiting = second_process(client)
    try:
        registration = Registration()
        waiting.read(1, 42, registration)
        waiting.read(1, 42, registration)
        assert registration.asked == 1 and not waiting.listening.is_set()
        assert waiting.listening.wait(TAKE_OVER_SECONDS * 5)
        waiting.read(1, 42, registration)
        assert registration.asked == 2  # the epoch moved with the lease
    finally:
        waiting.close()


def test_a_listener_that_loses_its_lease_while_stalled_stops_listening(client, holdings):
    client.set(LEASE, "a process that took over")  # as if ours ran out while it was stalled
    deadline = time.monotonic() + 5
    while holdings.listening.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not holdings.listening.is_set()
    assert client.get(LEASE) == b"a process that took over"  # not given back: not its own


@pytest.mark.parametrize(
    "payload",
    [
        {"student_id": 42},
        {"program_id": "1", "student_id": 42},
        {"program_id": 1, "student_id": True},
        {"program_id": 1.0, "student_id": 42},
    ],
)
def test_an_entry_naming_nobody_plainly_is_not_read(payload):
    assert student_named(Event(events.OUTCOME_DECIDED, "registration", payload).to_json()) is None
    assert student_named(b"not json") is None
    assert student_named(None) is None


def test_a_gunicorn_worker_shutting_down_gives_the_lease_back(app, redis_server):
    """The web's gunicorn config stops the holdings of an exiting worker: its lease is given
    back, so another process listens within a second rather than after the lease's 3 s."""
    config = runpy.run_path(str(Path(__file__).parents[1] / "gunicorn.conf.py"))
    holdings = app.extensions["web.holdings"]
    assert holdings.listening.wait(5)
    client = redis.Redis.from_url(redis_server.url)
    assert client.get(LEASE) == holdings.token.encode()
    config["worker_exit"](None, SimpleNamespace(wsgi=app))
    assert client.get(LEASE) is None
    assert not holdings.listening.is_set()
    client.close()
