"""The fair opening: a program's waiting room, and its release in a drawn order.

In a program with ``opening_window_seconds`` W, a student's own request received before
``registration_opens_at + W`` is stored ``waiting``: the students already on the page before the
opening wait with those who arrive in the window, and no drainer takes any of them. Once the
window has closed, :func:`release` puts the waiting requests in the queue, in ONE
transaction under the program's ``openings`` row lock:

- a seed is drawn (``secrets``) and recorded with the order of the students it gave: the
  distinct students waiting, sorted by id, then shuffled by ``random.Random(seed)``;
- each waiting request becomes ``queued`` with ``created_at`` (the drainers' order) rewritten to
  just before the window's end, a microsecond apart, student after student in the drawn order,
  each student's own requests in the order they arrived. Requests received after the window are
  ``created_at`` later than every one of them: first come, first served behind the released.

The relay's sweeper calls :func:`release_due` on every sweep, then rings the partitions. A crash
before the commit leaves everything waiting for the next sweep; one after it leaves queued rows,
which the sweeper rings like any other. A request stored waiting after the release (received
late while the release was under way) is queued by the next sweep, its arrival time kept.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, distinct, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registration_service.adapters.models import OpeningRow, ProgramRow, RegistrationRequestRow
from registration_service.domain.model import RequestStatus
from registration_service.use_cases.catalog import get_program

_requests = RegistrationRequestRow.__table__.c
RELEASE = (
    update(RegistrationRequestRow.__table__)
    .where(_requests.id == bindparam("request_id"), _requests.status == RequestStatus.WAITING)
    .values(
        status=RequestStatus.QUEUED,
        created_at=bindparam("queued_at"),
        enqueued_at=bindparam("released_at"),
    )
)


@dataclass(frozen=True)
class WaitingRoom:
    """A program's waiting room as the intake sees it."""

    closes_at: datetime  # registration_opens_at + opening_window_seconds
    released: bool

    def takes(self, received_at: datetime) -> bool:
        """A request received now waits: before the window closes (early arrivals included),
        or after it while not yet released (so it goes behind the released ones)."""
        return received_at < self.closes_at or not self.released


def waiting_rooms(session: Session, program_ids: set[int]) -> dict[int, WaitingRoom]:
    """The waiting rooms of those programs that have one (one query)."""
    if not program_ids:
        return {}
    rows = session.execute(
        select(
            ProgramRow.id,
            ProgramRow.registration_opens_at,
            ProgramRow.opening_window_seconds,
            OpeningRow.released_at,
        )
        .outerjoin(OpeningRow, OpeningRow.program_id == ProgramRow.id)
        .where(
            ProgramRow.id.in_(sorted(program_ids)), ProgramRow.opening_window_seconds.is_not(None)
        )
    )
    return {
        program_id: WaitingRoom(opens + timedelta(seconds=window), released is not None)
        for program_id, opens, window, released in rows
        if opens is not None and window is not None
    }


def window_end(program: ProgramRow) -> datetime | None:
    if program.registration_opens_at is None or program.opening_window_seconds is None:
        return None
    return program.registration_opens_at + timedelta(seconds=program.opening_window_seconds)


def release(
    session: Session, program_id: int, *, seed: int | None = None, now: datetime | None = None
) -> list[int]:
    """Queue the program's waiting requests (see the module); the partitions to ring. ``seed``
    (tests) is used only when none was drawn yet. Releasing again queues only requests stored
    waiting since, in arrival order."""
    now = now or datetime.now(UTC)
    end = window_end(get_program(session, program_id))
    opening = _locked_opening(session, program_id)
    waiting = session.execute(
        select(
            _requests.id, _requests.student_id, _requests.created_at, _requests.decision_partition
        )
        .where(_requests.program_id == program_id, _requests.status == RequestStatus.WAITING)
        .order_by(_requests.created_at, _requests.id)
    ).all()
    queued_at = {row.id: row.created_at for row in waiting}  # late ones keep their arrival
    if opening.released_at is None:
        in_window = [r for r in waiting if end is None or r.created_at < end]
        if opening.seed is None:
            opening.seed = seed if seed is not None else secrets.randbits(62)
        students = sorted({row.student_id for row in in_window})
        random.Random(opening.seed).shuffle(students)
        place = {student: index for index, student in enumerate(students)}
        in_line = sorted(in_window, key=lambda r: (place[r.student_id], r.created_at, r.id))
        last = end or now
        for index, row in enumerate(in_line):
            queued_at[row.id] = last - timedelta(microseconds=len(in_line) - index)
        opening.student_order = students
        opening.released_at = now
    if waiting:
        params = [
            {"request_id": i, "queued_at": at, "released_at": now} for i, at in queued_at.items()
        ]
        session.connection().execute(RELEASE, params)
    session.flush()
    return sorted({row.decision_partition for row in waiting})


def release_due(session: Session, now: datetime | None = None) -> list[int]:
    """Release every program whose window has closed and that has not been released, or that
    holds requests stored waiting since; the partitions to ring. A program whose window an
    organiser removed while requests waited releases them now, in a drawn order too."""
    now = now or datetime.now(UTC)
    stragglers = set(
        session.scalars(
            select(_requests.program_id).where(_requests.status == RequestStatus.WAITING).distinct()
        )
    )
    candidates = session.scalars(
        select(ProgramRow).where(
            or_(
                ProgramRow.opening_window_seconds.is_not(None)
                & ProgramRow.registration_opens_at.is_not(None),
                ProgramRow.id.in_(sorted(stragglers)),
            )
        )
    ).all()
    due = [p.id for p in candidates if (end := window_end(p)) is None or end <= now]
    if not due:
        return []
    released = set(
        session.scalars(
            select(OpeningRow.program_id).where(
                OpeningRow.program_id.in_(due), OpeningRow.released_at.is_not(None)
            )
        )
    )
    partitions: set[int] = set()
    for program_id in due:
        if program_id not in released or program_id in stragglers:
            partitions.update(release(session, program_id, now=now))
    return sorted(partitions)


def waiting_count(session: Session, program_id: int) -> tuple[int, int]:
    """(students, requests) waiting in the program's room now."""
    students, count = session.execute(
        select(func.count(distinct(_requests.student_id)), func.count()).where(
            _requests.program_id == program_id, _requests.status == RequestStatus.WAITING
        )
    ).one()
    return int(students), int(count)


def get_waiting_room(session: Session, program_id: int) -> dict[str, object]:
    """What a student's page shows: when the room releases, whether it has, how many wait."""
    program = get_program(session, program_id)
    opening = session.get(OpeningRow, program_id)
    students, count = waiting_count(session, program_id)
    return {
        "releases_at": window_end(program),
        "released_at": opening.released_at if opening is not None else None,
        "waiting_students": students,
        "waiting_requests": count,
    }


def get_opening(session: Session, program_id: int) -> dict[str, object]:
    """``{seed, released_at, student_order}`` (nulls and [] before the release) with the
    waiting room's ``releases_at`` and counts."""
    room = get_waiting_room(session, program_id)
    opening = session.get(OpeningRow, program_id)
    if opening is None or opening.released_at is None:
        return room | {"seed": None, "student_order": []}
    return room | {"seed": opening.seed, "student_order": list(opening.student_order)}


def _locked_opening(session: Session, program_id: int) -> OpeningRow:
    """The program's opening row, created if missing, locked until the transaction ends."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(OpeningRow)
        .values(program_id=program_id, student_order=[])
        .on_conflict_do_nothing(index_elements=["program_id"])
    )
    return session.scalars(
        select(OpeningRow)
        .where(OpeningRow.program_id == program_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
