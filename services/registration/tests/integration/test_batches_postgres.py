"""The batched rush path on a real PostgreSQL server, with real concurrency: a batch the unique
indexes refuse is rolled back and decided one request at a time, a group the database refuses
to store answers each of its requests 503 while a retry stores each exactly once, and a lottery
run's commit and revert drain like any other requests."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from devstack.pipeline import wait_for_a_lock_wait
from devstack.tokens import TEST_SIGNER
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    ProgramRow,
    ProgramStudentRow,
    RegistrationRequestRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
    outbox,
)
from registration_service.api.app import create_app
from registration_service.events import LOTTERY_RUN_REVERTED, OUTCOMES_STREAM
from registration_service.intake import RequestIntake, StorageUnavailable
from registration_service.messaging import Doorbells, make_celery
from registration_service.migrate import upgrade
from registration_service.settings import RegistrationSettings
from registration_service.use_cases import requests
from registration_service.use_cases.batch_decisions import decide_enrollments
from registration_service.use_cases.batch_snapshot import QueuedEnroll
from registration_service.use_cases.decisions import drop, enroll, switch
from registration_service.use_cases.drain import drain_partition
from registration_service.use_cases.lottery_commits import handle_lottery_event
from registration_testkit import RUN_STARTS_AT, CatalogBuilder, bearer, lottery_event
from servicekit.flask_db import dispose_sessions
from sqlalchemy import func, select, text

pytestmark = pytest.mark.postgres

PARTITIONS = 2
REFUSED_STUDENT = 666


@pytest.fixture
def pg(postgres_server):
    url = postgres_server.create_database(f"batch_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url, pool_size=30)
    yield url, engine, sessions
    engine.dispose()


def enroll_request(session, program, student, section):
    """Store an enroll request as the web would; returns its id."""
    new = requests.NewRequest(
        program_id=program, student_id=student, action="enroll", section_id=section
    )
    return requests.submit(session, new, partitions=PARTITIONS).id


def seat_uncommitted(sessions, request_id, program, student, section):
    """Another partition's batch seating ``student``, written but not committed: (session,
    its backend pid)."""
    session = sessions()
    session.begin()
    batch = [QueuedEnroll(request_id, program, student, section, False)]
    decide_enrollments(session, batch, datetime.now(UTC))
    return session, session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_batch_refused_by_the_unique_indexes_is_retried_then_decided_one_at_a_time(pg):
    """Students 1 and 2 (new to their programs) each ask for two sections of one timeslot,
    routed to partitions A and B. While B writes its batch, A seats student 1; B reads again,
    and while it writes, A seats student 2. Refused twice, B decides one request at a time."""
    _url, engine, sessions = pg
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        sections = {}
        for student in (1, 2):  # a program each, so their seats do not wait on one head count
            program = build.program()
            slot = build.timeslot(program)
            sections[student] = (program, *(build.section(program, [slot]) for _ in range(2)))
            build.complete_profile(program, student)
        build.complete_profile(sections[1][0], 3)
        (p1, a, b), (p2, a2, b2) = sections[1], sections[2]
        assert a % PARTITIONS == a2 % PARTITIONS != b % PARTITIONS == b2 % PARTITIONS
        ask = [(p1, 1, a), (p2, 2, a2), (p1, 1, b), (p2, 2, b2), (p1, 3, b)]
        ids = [
            enroll_request(session, program, student, section) for program, student, section in ask
        ]
    first, first_pid = seat_uncommitted(sessions, ids[0], p1, 1, a)
    second, second_pid = seat_uncommitted(sessions, ids[1], p2, 2, a2)
    drained = {}
    drainer = threading.Thread(
        target=lambda: drained.update(
            result=drain_partition(sessions, b % PARTITIONS, batch_size=10, max_batches=5)
        )
    )
    drainer.start()
    wait_for_a_lock_wait(engine, first_pid)  # B's batch waits on student 1's seat
    first.commit()
    wait_for_a_lock_wait(engine, second_pid)  # refused; read again, it waits on student 2's
    second.commit()
    drainer.join(timeout=30)
    first.close()
    second.close()
    assert drained["result"].fallbacks == 1 and drained["result"].decided == 3
    with sessions() as session:
        rows = {
            row.id: (row.status, row.reason)
            for row in session.scalars(select(RegistrationRequestRow))
        }
        occupied = session.scalar(
            select(func.count()).where(TimeslotOccupancyRow.released_at.is_(None))
        )
    assert [rows[i] for i in ids] == [
        ("accepted", None),
        ("accepted", None),
        ("rejected", "time_conflict"),
        ("rejected", "time_conflict"),
        ("accepted", None),
    ]
    assert occupied == 3  # one timeslot each: no clash


@pytest.fixture
def refusing_trigger(pg):
    """The database refuses any group holding a request of student 666 (a stand-in for a
    failing disk or a constraint the checks could not foresee), slowly enough that callers
    arriving meanwhile queue up into one group."""
    _url, engine, _ = pg
    with engine.begin() as connection:
        connection.execute(
            text(
                f"""CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN
                    PERFORM pg_sleep(0.05);
                    IF NEW.student_id = {REFUSED_STUDENT} THEN
                        RAISE EXCEPTION 'refused for the test';
                    END IF;
                    RETURN NEW; END $$ LANGUAGE plpgsql"""
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON registration_requests "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )

    def lift():
        with engine.begin() as connection:
            connection.execute(text("DROP TRIGGER IF EXISTS refuse ON registration_requests"))

    yield lift
    lift()


def one_section(sessions, capacity=10):
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        return program, build.section(program, [build.timeslot(program)], capacity=capacity)


def make_intake(url, redis_url, sessions):
    settings = RegistrationSettings(
        database_url=url, redis_url=redis_url, jwt_jwks=TEST_SIGNER.jwks_json()
    )
    doorbells = Doorbells(make_celery(settings), redis.Redis.from_url(redis_url), settings)
    return RequestIntake(sessions, doorbells, PARTITIONS)


def test_a_group_the_database_refuses_answers_each_of_its_requests_503(
    pg, redis_server, refusing_trigger
):
    url, _engine, sessions = pg
    program, section = one_section(sessions, capacity=50)
    intake = make_intake(url, redis_server.url, sessions)
    students = [*range(1, 20), REFUSED_STUDENT]
    answers = {}

    def send(student):
        new = requests.NewRequest(
            program_id=program,
            student_id=student,
            action="enroll",
            section_id=section,
            idempotency_key=f"key-{student}",
        )
        try:
            answers[student] = intake.submit(new)
        except StorageUnavailable as exc:
            answers[student] = exc

    first = threading.Thread(target=send, args=(1,))
    first.start()
    # Student 1 flushes alone; the rest queue behind it, into one group.
    deadline = time.monotonic() + 10
    while not intake.group._flushing and intake.group.groups == 0:
        assert time.monotonic() < deadline, "student 1's flush never began"
        time.sleep(0.001)
    rest = [threading.Thread(target=send, args=(s,)) for s in students[1:]]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join()
    refused = {s for s, answer in answers.items() if isinstance(answer, StorageUnavailable)}
    assert REFUSED_STUDENT in refused and len(refused) > 1  # the whole group, not just one
    assert 1 not in refused and intake.group.groups >= 2
    with sessions() as session:
        stored = set(session.scalars(select(RegistrationRequestRow.student_id)))
    assert stored == set(students) - refused  # 202 only for committed rows

    refusing_trigger()  # the database is well again
    retried = {}
    for student in students:  # every caller retries with its key
        retried[student] = intake.submit(
            requests.NewRequest(
                program_id=program,
                student_id=student,
                action="enroll",
                section_id=section,
                idempotency_key=f"key-{student}",
            )
        )
    for student in set(students) - refused:
        assert retried[student].id == answers[student].id and not retried[student].created
    with sessions() as session:
        per_key = session.execute(
            select(RegistrationRequestRow.idempotency_key, func.count()).group_by(
                RegistrationRequestRow.idempotency_key
            )
        ).all()
    assert len(per_key) == len(students) and {count for _, count in per_key} == {1}


def test_the_web_answers_503_in_the_envelope_when_the_request_was_not_stored(
    pg, redis_server, refusing_trigger
):
    url, _engine, sessions = pg
    program, section = one_section(sessions)
    settings = RegistrationSettings(
        database_url=url, redis_url=redis_server.url, jwt_jwks=TEST_SIGNER.jwks_json()
    )
    app = create_app(settings)
    response = app.test_client().post(
        f"/v1/programs/{program}/registration-requests",
        json={"student_id": REFUSED_STUDENT, "action": "enroll", "section_id": section},
        headers={**bearer(REFUSED_STUDENT), "Idempotency-Key": "k"},
    )
    dispose_sessions(app)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"


def test_a_connection_the_server_dropped_is_retried_on_a_fresh_one(pg, redis_server):
    """The pool does not ping before each checkout (a round trip per request on the rush path);
    a connection the server closed meanwhile costs one retry, not an error."""
    url, engine, sessions = pg
    program, section = one_section(sessions)
    quiet_engine, quiet_sessions = make_session_factory(url, pool_size=1, pool_pre_ping=False)
    intake = make_intake(url, redis_server.url, quiet_sessions)

    def ask(student):
        return intake.submit(
            requests.NewRequest(
                program_id=program, student_id=student, action="enroll", section_id=section
            )
        )

    assert ask(1).created  # the pool now holds one open connection
    with engine.connect() as connection:  # the server drops it (a restart, a failover)
        dropped = connection.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    assert dropped >= 1
    assert ask(2).created
    quiet_engine.dispose()


def test_a_request_whose_decision_keeps_failing_ends_rejected_and_its_partition_moves_on(pg):
    """A decision that raises every time (a bug, bad data; here a trigger refusing student
    666's seat) must not hold up the requests behind it: it ends decision_failed, once."""
    _url, engine, sessions = pg
    program, section = one_section(sessions)
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        for student in (1, REFUSED_STUDENT, 2):
            build.complete_profile(program, student)
        ids = [
            enroll_request(session, program, student, section)
            for student in (1, REFUSED_STUDENT, 2)
        ]
    with engine.begin() as connection:
        connection.execute(
            text(
                f"""CREATE FUNCTION fail_seat() RETURNS trigger AS $$ BEGIN
                    IF NEW.student_id = {REFUSED_STUDENT} THEN
                        RAISE EXCEPTION 'a decision that always fails';
                    END IF;
                    RETURN NEW; END $$ LANGUAGE plpgsql"""
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER fail_seat BEFORE INSERT ON student_registrations "
                "FOR EACH ROW EXECUTE FUNCTION fail_seat()"
            )
        )
    drained = drain_partition(sessions, section % PARTITIONS, batch_size=10, max_batches=10)
    assert drained.decided == 3 and not drained.more
    with sessions() as session:
        rows = {
            row.id: (row.status, row.reason)
            for row in session.scalars(select(RegistrationRequestRow))
        }
        events = session.scalar(select(func.count()).where(outbox.c.stream == OUTCOMES_STREAM))
    assert [rows[i] for i in ids] == [
        ("accepted", None),
        ("rejected", "decision_failed"),
        ("accepted", None),
    ]
    assert events == 3  # one outcome each


def test_a_lottery_run_drains_in_a_batch_outside_the_window_and_its_revert_undoes_only_it(pg):
    """Student 4 enrolled on their own while the window was open; students 1-3 are placed by
    run 17 after it closed. The run's seats all start at its starts_at; its revert (which also
    names student 4, wrongly) drops only those."""
    _url, _engine, sessions = pg
    closed_at = datetime.now(UTC) - timedelta(days=1)  # the drainers decide now
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(
            registration_opens_at=closed_at - timedelta(days=1), registration_closes_at=closed_at
        )
        section = build.section(program, [build.timeslot(program)], capacity=4)
        for student in (1, 2, 3, 4):
            build.complete_profile(program, student)
        assert enroll(session, student_id=4, section_id=section, when=closed_at).decision.accepted
        run = [(student, section) for student in (1, 2, 3)]
        handle_lottery_event(session, lottery_event(program, run), partitions=PARTITIONS)
    partition = section % PARTITIONS
    drained = drain_partition(sessions, partition, batch_size=10, max_batches=5)
    assert (drained.decided, drained.batches, drained.fallbacks) == (3, 1, 0)
    with sessions() as session:
        assert active_starts(session, section) == {
            1: RUN_STARTS_AT,
            2: RUN_STARTS_AT,
            3: RUN_STARTS_AT,
            4: closed_at,
        }
        origins = {
            (payload["student_id"], payload["status"], payload["origin"])
            for payload in outcome_payloads(session)
        }
    assert origins == {(s, "accepted", "lottery-run:17") for s in (1, 2, 3)}

    with sessions() as session, session.begin():
        revert = lottery_event(program, [*run, (4, section)], event_type=LOTTERY_RUN_REVERTED)
        handle_lottery_event(session, revert, partitions=PARTITIONS)
    drained = drain_partition(sessions, partition, batch_size=10, max_batches=10)
    assert drained.decided == 4 and not drained.more  # drops: one at a time
    with sessions() as session:
        assert active_starts(session, section) == {4: closed_at}
        drops = {
            (payload["student_id"], payload["status"], payload["reason"])
            for payload in outcome_payloads(session)
            if payload["origin"] == "lottery-revert:17"
        }
    assert drops == {(1, "accepted", None), (2, "accepted", None), (3, "accepted", None)} | {
        (4, "rejected", "not_registered")
    }


def run_then_revert(sessions, program, run):
    """Run 17's ``run`` committed (drained in its sections' partitions), then its revert queued."""
    with sessions() as session, session.begin():
        handle_lottery_event(session, lottery_event(program, run), partitions=PARTITIONS)
    for partition in {section % PARTITIONS for _, section in run}:
        drain_partition(sessions, partition, batch_size=10, max_batches=5)
    with sessions() as session, session.begin():
        revert = lottery_event(program, run, event_type=LOTTERY_RUN_REVERTED)
        handle_lottery_event(session, revert, partitions=PARTITIONS)


def uncommitted(sessions, decide):
    """``decide(session)`` written in a transaction left open: (session, its backend pid)."""
    session = sessions()
    session.begin()
    decide(session)
    return session, session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def while_blocked(engine, holder, holder_pid, work):
    """Run ``work`` in a thread until it waits on ``holder``'s locks, then commit ``holder``;
    what ``work`` returned."""
    done = {}
    worker = threading.Thread(target=lambda: done.update(result=work()))
    worker.start()
    try:
        wait_for_a_lock_wait(engine, holder_pid, timeout=10)
    finally:
        holder.commit()
        holder.close()
        worker.join(timeout=30)
    return done["result"]


def drain_while_blocked(engine, sessions, partition, holder, holder_pid):
    """Drain ``partition`` until it waits on ``holder``'s locks, then commit ``holder``."""

    def drain():
        return drain_partition(sessions, partition, batch_size=10, max_batches=5)

    return while_blocked(engine, holder, holder_pid, drain)


def seat_holders(session, program):
    """{section: {students holding a seat}} and {section: its enrolled_count}."""
    held: dict[int, set[int]] = {}
    rows = session.execute(
        select(StudentRegistrationRow.section_id, StudentRegistrationRow.student_id).where(
            StudentRegistrationRow.program_id == program,
            StudentRegistrationRow.holds_seat.is_(True),
        )
    )
    for section, student in rows:
        held.setdefault(section, set()).add(student)
    counts = dict(
        session.execute(
            select(SectionRow.id, SectionRow.enrolled_count).where(SectionRow.program_id == program)
        ).all()
    )
    return held, counts


def two_sections_of_a_class(sessions, students, enrolled_in_a):
    """A program with sections A and D of one class at one timeslot (3 seats each), the
    students' profiles complete and ``enrolled_in_a`` seated in A: (program, A, D)."""
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        slot = build.timeslot(program)
        a, d = build.sections_of_one_class(program, [[slot], [slot]], capacity=3)
        for student in students:
            build.complete_profile(program, student)
        for student in enrolled_in_a:
            assert enroll(session, student_id=student, section_id=a).decision.accepted
    return program, a, d


def test_a_revert_batch_never_frees_again_a_seat_a_concurrent_switch_freed(pg):
    """Run 17 seated students 1 and 2 in section A; student 3 took its third seat alone. While
    student 1's switch from A to D is uncommitted, the revert's batch for A reads student 1's
    seat as held, then waits on it. Once the switch commits, the batch must not free that seat a
    second time (A would count one seat for student 3 and take a fourth student): refused, it
    reads again and drops only student 2."""
    _url, engine, sessions = pg
    program, a, d = two_sections_of_a_class(sessions, (1, 2, 3), enrolled_in_a=(3,))
    run_then_revert(sessions, program, [(1, a), (2, a)])
    switching, pid = uncommitted(
        sessions,
        lambda s: switch(s, student_id=1, from_section_id=a, to_section_id=d).decision.accepted,
    )
    drained = drain_while_blocked(engine, sessions, a % PARTITIONS, switching, pid)
    assert drained.decided == 2
    with sessions() as session:
        held, counts = seat_holders(session, program)
        drops = {
            (payload["student_id"], payload["status"], payload["reason"])
            for payload in outcome_payloads(session)
            if payload["origin"] == "lottery-revert:17"
        }
    assert held == {a: {3}, d: {1}} and (counts[a], counts[d]) == (1, 1)
    assert drops == {(1, "rejected", "not_registered"), (2, "accepted", None)}


def test_a_drop_that_waited_on_a_switch_of_its_seat_frees_the_seat_once(pg):
    """The one-request path in the same race: student 1's drop of A reads the seat as held,
    then waits on the uncommitted switch from A to D that ends it. The drop decides again, finds
    nothing to drop, and A keeps its count true for student 3."""
    _url, engine, sessions = pg
    program, a, d = two_sections_of_a_class(sessions, (1, 3), enrolled_in_a=(1, 3))
    switching, pid = uncommitted(
        sessions,
        lambda s: switch(s, student_id=1, from_section_id=a, to_section_id=d).decision.accepted,
    )

    def drop_a():
        with sessions() as session, session.begin():
            return drop(session, student_id=1, section_id=a).decision.reason

    reason = while_blocked(engine, switching, pid, drop_a)
    with sessions() as session:
        held, counts = seat_holders(session, program)
    assert reason == "not_registered"
    assert held == {a: {3}, d: {1}} and (counts[a], counts[d]) == (1, 1)


def test_a_student_promoted_while_a_revert_drops_their_other_seat_stays_in_the_program(pg):
    """Run 17 seated student 1 in section C, their only seat; they wait in line for A, which
    student 2 holds. Student 2 drops A and the seat goes to student 1, uncommitted, while the
    revert drops student 1's seat in C in the other partition. The revert must wait for the
    promotion and then keep student 1 in the program: a member, counted once."""
    _url, engine, sessions = pg
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        c = build.section(program, [build.timeslot(program, 0)], capacity=5)
        later = build.timeslot(program, 2)
        a = build.section(program, [later], capacity=1)
        if a % PARTITIONS == c % PARTITIONS:
            a = build.section(program, [later], capacity=1)
        for student in (1, 2):
            build.complete_profile(program, student)
        assert enroll(session, student_id=2, section_id=a).decision.accepted
        waiting = enroll(session, student_id=1, section_id=a, waitlist=True)
        assert waiting.decision.verb == "Waitlisted"
    run_then_revert(sessions, program, [(1, c)])
    dropping, pid = uncommitted(
        sessions,
        lambda s: drop(s, student_id=2, section_id=a).promoted_student_ids == (1,),
    )
    drained = drain_while_blocked(engine, sessions, c % PARTITIONS, dropping, pid)
    assert drained.decided == 1
    with sessions() as session:
        held, counts = seat_holders(session, program)
        members = set(
            session.scalars(
                select(ProgramStudentRow.student_id).where(ProgramStudentRow.program_id == program)
            )
        )
        head_count = session.scalar(
            select(ProgramRow.student_count).where(ProgramRow.id == program)
        )
    assert held == {a: {1}} and counts[a] == 1 and counts[c] == 0
    assert members == {1} and head_count == 1


def test_promotions_in_a_revert_batch_each_name_the_drop_that_freed_their_seat(pg):
    """Run 17 seated students 1 and 2 in A (two seats); 3 and 4 wait in line. The revert's batch
    frees both seats: 3 takes the one student 1 left, 4 the one student 2 left, and each
    promotion names its own drop."""
    _url, _engine, sessions = pg
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        a = build.section(program, [build.timeslot(program)], capacity=2)
        for student in (1, 2, 3, 4):
            build.complete_profile(program, student)
    run_then_revert(sessions, program, [(1, a), (2, a)])
    with sessions() as session, session.begin():
        for student in (3, 4):
            assert enroll(session, student_id=student, section_id=a, waitlist=True).decision.verb
    drained = drain_partition(sessions, a % PARTITIONS, batch_size=10, max_batches=5)
    assert (drained.decided, drained.fallbacks) == (2, 0)
    with sessions() as session:
        drops = {
            payload["student_id"]: payload["id"]
            for payload in outcome_payloads(session)
            if payload["origin"] == "lottery-revert:17"
        }
        query = select(outbox.c.body).where(
            outbox.c.stream == OUTCOMES_STREAM,
            outbox.c.event_type == "registration.waitlist.promoted.v1",
        )
        promoted = [json.loads(body)["payload"] for body in session.scalars(query)]
        held, _ = seat_holders(session, program)
    assert held == {a: {3, 4}}
    freed_by = {p["student_id"]: p["freed_by_request_id"] for p in promoted}
    assert freed_by == {3: drops[1], 4: drops[2]}


def test_a_revert_batch_makes_room_in_a_full_program_before_it_promotes(pg):
    """Student capacity 2. Run 17 seated student 1 in A (their only seat); student 3 joined A's
    line while the program had room; then student 2 took its last place. The revert drops
    student 1, who leaves the program, so student 3, next in line but not yet a member, takes
    the seat and the place."""
    _url, _engine, sessions = pg
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(student_capacity=2)
        a = build.section(program, [build.timeslot(program, 0)], capacity=1)
        b = build.section(program, [build.timeslot(program, 2)], capacity=5)
        for student in (1, 2, 3):
            build.complete_profile(program, student)
    with sessions() as session, session.begin():
        handle_lottery_event(session, lottery_event(program, [(1, a)]), partitions=PARTITIONS)
    drain_partition(sessions, a % PARTITIONS, batch_size=10, max_batches=5)
    with sessions() as session, session.begin():
        assert enroll(session, student_id=3, section_id=a, waitlist=True).decision.verb == (
            "Waitlisted"
        )
        assert enroll(session, student_id=2, section_id=b).decision.accepted
        revert = lottery_event(program, [(1, a)], event_type=LOTTERY_RUN_REVERTED)
        handle_lottery_event(session, revert, partitions=PARTITIONS)
    drained = drain_partition(sessions, a % PARTITIONS, batch_size=10, max_batches=5)
    assert (drained.decided, drained.fallbacks) == (1, 0)
    with sessions() as session:
        held, _ = seat_holders(session, program)
        head_count = session.scalar(
            select(ProgramRow.student_count).where(ProgramRow.id == program)
        )
    assert held == {a: {3}, b: {2}} and head_count == 2


def active_starts(session, section):
    """{student: start_date} of the section's active registrations."""
    rows = session.execute(
        select(StudentRegistrationRow.student_id, StudentRegistrationRow.start_date).where(
            StudentRegistrationRow.section_id == section, StudentRegistrationRow.active.is_(True)
        )
    )
    return {student: start for student, start in rows}


def outcome_payloads(session):
    query = select(outbox.c.body).where(
        outbox.c.stream == OUTCOMES_STREAM, outbox.c.event_type == "registration.outcome.decided.v1"
    )
    return [json.loads(body)["payload"] for body in session.scalars(query)]
