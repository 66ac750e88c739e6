"""Stars and priorities: what students tell the lottery they want.

Stars are expired, never deleted (ESP's ``StudentSubjectInterest``): unstarring sets
``end_date``, starring again opens a new row. A priority is also a star: setting one stars its
class, and unstarring a class takes it out of the student's rankings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from lottery_service.adapters.models import ClassRow, PriorityRow, StarRow, StudentCapRow
from lottery_service.domain.errors import InvalidInput, NotFound
from lottery_service.domain.preferences import (
    ImportedPriority,
    import_errors,
    priorities_errors,
    star_problem,
)
from lottery_service.use_cases.read_models import program_catalog, require_program

Ranking = dict[int, list[int]]  # timeslot id -> class ids ranked 1, 2, ...


def active_stars(session: Session, program_id: int, student_id: int) -> list[int]:
    return list(
        session.scalars(
            select(StarRow.class_id)
            .where(
                StarRow.program_id == program_id,
                StarRow.student_id == student_id,
                StarRow.end_date.is_(None),
            )
            .order_by(StarRow.class_id)
        )
    )


def star(session: Session, program_id: int, student_id: int, class_id: int) -> StarRow:
    """Star a class (a class already starred stays as it is)."""
    catalog = program_catalog(session, program_id, [student_id])
    problem = star_problem(catalog, student_id, class_id)
    if problem is not None:
        raise InvalidInput({"class_id": [problem]})
    existing = session.scalars(
        select(StarRow).where(
            StarRow.student_id == student_id,
            StarRow.class_id == class_id,
            StarRow.end_date.is_(None),
        )
    ).one_or_none()
    if existing is not None:
        return existing
    row = StarRow(program_id=program_id, student_id=student_id, class_id=class_id)
    session.add(row)
    session.flush()
    return row


def unstar(session: Session, program_id: int, student_id: int, class_id: int) -> None:
    """Expire the star and take the class out of the student's rankings; a class not starred
    is a 404, so a typo is not mistaken for success."""
    require_program(session, program_id)
    ended = session.execute(
        update(StarRow)
        .where(
            StarRow.program_id == program_id,
            StarRow.student_id == student_id,
            StarRow.class_id == class_id,
            StarRow.end_date.is_(None),
        )
        .values(end_date=datetime.now(UTC))
    )
    if not ended.rowcount:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        raise NotFound("star", f"on class {class_id}")
    ranking = get_priorities(session, program_id, student_id)
    kept = {t: [c for c in classes if c != class_id] for t, classes in ranking.items()}
    if kept != ranking:
        _replace_priorities(session, program_id, [student_id], _rows(program_id, student_id, kept))


def interested_students(session: Session, program_id: int, class_id: int) -> list[int]:
    require_program(session, program_id)
    if session.get(ClassRow, class_id) is None:
        raise NotFound("class", class_id)
    return list(
        session.scalars(
            select(StarRow.student_id)
            .where(
                StarRow.program_id == program_id,
                StarRow.class_id == class_id,
                StarRow.end_date.is_(None),
            )
            .order_by(StarRow.student_id)
        )
    )


def get_priorities(session: Session, program_id: int, student_id: int) -> Ranking:
    require_program(session, program_id)
    ranking: Ranking = defaultdict(list)
    for row in session.scalars(
        select(PriorityRow)
        .where(PriorityRow.program_id == program_id, PriorityRow.student_id == student_id)
        .order_by(PriorityRow.timeslot_id, PriorityRow.rank)
    ):
        ranking[row.timeslot_id].append(row.class_id)
    return dict(ranking)


def set_priorities(
    session: Session, program_id: int, student_id: int, ranking: Mapping[int, Sequence[int]]
) -> Ranking:
    """Replace the student's rankings (an empty list clears a timeslot) and star every ranked
    class; checked whole first, so a bad entry saves nothing."""
    catalog = program_catalog(session, program_id, [student_id])
    errors = priorities_errors(catalog, student_id, ranking)
    if errors:
        raise InvalidInput(errors)
    kept = {t: list(classes) for t, classes in ranking.items() if classes}
    _replace_priorities(session, program_id, [student_id], _rows(program_id, student_id, kept))
    wanted = {c for classes in kept.values() for c in classes}
    add_stars(session, program_id, [(student_id, c) for c in sorted(wanted)])
    return get_priorities(session, program_id, student_id)


def import_preferences(
    session: Session,
    program_id: int,
    stars: Sequence[tuple[int, int]],
    priorities: Sequence[ImportedPriority],
    caps: Sequence[tuple[int, int | None, int | None]] = (),
) -> dict[str, int]:
    """Replace every student's stars, priorities and caps in the program at once.

    The whole import is checked first; one bad row is a 422 naming its index and nothing is
    saved. Stars no longer wanted are expired (history is kept), new ones start now, and a
    priority stars its class.
    """
    catalog = program_catalog(session, program_id)
    errors = import_errors(catalog, stars, priorities)
    capped: dict[int, int] = {}
    for index, (student_id, max_sections, max_timeslots) in enumerate(caps):
        if student_id in capped:
            errors[f"caps.{index}.student_id"] = [f"Already capped by caps.{capped[student_id]}."]
        capped.setdefault(student_id, index)
        for name, value in (("max_sections", max_sections), ("max_timeslots", max_timeslots)):
            if value is not None and value < 1:
                errors[f"caps.{index}.{name}"] = ["Must be at least 1 (or null: no cap)."]
    if errors:
        raise InvalidInput(errors)

    wanted = set(stars) | {(p.student_id, p.class_id) for p in priorities}
    now = datetime.now(UTC)
    current = {
        (student_id, class_id): star_id
        for star_id, student_id, class_id in session.execute(
            select(StarRow.id, StarRow.student_id, StarRow.class_id).where(
                StarRow.program_id == program_id, StarRow.end_date.is_(None)
            )
        ).tuples()
    }
    unwanted = sorted(star_id for pair, star_id in current.items() if pair not in wanted)
    for start in range(0, len(unwanted), 500):
        session.execute(
            update(StarRow)
            .where(StarRow.id.in_(unwanted[start : start + 500]))
            .values(end_date=now)
            .execution_options(synchronize_session=False)
        )
    add_stars(session, program_id, sorted(wanted - current.keys()), now)

    rows = [
        {
            "program_id": program_id,
            "student_id": p.student_id,
            "timeslot_id": p.timeslot_id,
            "rank": p.rank,
            "class_id": p.class_id,
        }
        for p in priorities
    ]
    _replace_priorities(session, program_id, None, rows)
    session.execute(delete(StudentCapRow).where(StudentCapRow.program_id == program_id))
    if caps:
        session.execute(
            insert(StudentCapRow),
            [
                {
                    "program_id": program_id,
                    "student_id": student_id,
                    "max_sections": max_sections,
                    "max_timeslots": max_timeslots,
                }
                for student_id, max_sections, max_timeslots in caps
            ],
        )
    return {"stars": len(wanted), "priorities": len(rows), "caps": len(caps)}


def _rows(program_id: int, student_id: int, ranking: Mapping[int, Sequence[int]]) -> list[dict]:
    return [
        {
            "program_id": program_id,
            "student_id": student_id,
            "timeslot_id": timeslot_id,
            "rank": rank,
            "class_id": class_id,
        }
        for timeslot_id, classes in ranking.items()
        for rank, class_id in enumerate(classes, start=1)
    ]


def _replace_priorities(
    session: Session, program_id: int, student_ids: Iterable[int] | None, rows: list[dict]
) -> None:
    """Delete the students' priorities (every student's when None) and insert ``rows``."""
    query = delete(PriorityRow).where(PriorityRow.program_id == program_id)
    if student_ids is not None:
        query = query.where(PriorityRow.student_id.in_(list(student_ids)))
    session.execute(query)
    if rows:
        session.execute(insert(PriorityRow), rows)


def add_stars(
    session: Session,
    program_id: int,
    pairs: Sequence[tuple[int, int]],
    when: datetime | None = None,
) -> None:
    """Star these (student, class) pairs, skipping those already starred."""
    if not pairs:
        return
    students = sorted({s for s, _ in pairs})
    current = set(
        session.execute(
            select(StarRow.student_id, StarRow.class_id).where(
                StarRow.program_id == program_id,
                StarRow.student_id.in_(students),
                StarRow.end_date.is_(None),
            )
        ).tuples()
    )
    start = when or datetime.now(UTC)
    new = [
        {"program_id": program_id, "student_id": s, "class_id": c, "start_date": start}
        for s, c in pairs
        if (s, c) not in current
    ]
    if new:
        session.execute(insert(StarRow), new)
