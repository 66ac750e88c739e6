"""Tokens and a catalog fed to the lottery service as the other services' events would."""

from __future__ import annotations

import itertools
from typing import Any

from devstack.tokens import issue_token
from lottery_service import events
from lottery_service.use_cases.read_models import handle_event
from servicekit.events import Event
from sqlalchemy.orm import Session, sessionmaker

# Two hours: a module's tokens are signed at import (collection), and the suite runs for 8-15
# minutes on a 2-core machine; a token signed for 10 minutes expired before a late test used it.
TOKEN_TTL = 7200


def bearer(subject: int | str, role: str = "student", ttl: int = TOKEN_TTL) -> dict[str, str]:
    """Headers with a token for ``subject`` (the same order as ``registration_testkit.bearer``)."""
    return {"Authorization": f"Bearer {issue_token(subject, role, ttl)}"}


ADMIN = bearer("admin", "admin")


class Catalog:
    """Announces programs, timeslots, classes and grades through the service's own event
    handler, as the registration and profile services' events do. Ids count up from 1."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._ids = itertools.count(1)
        self.sent: list[Event] = []

    def send(self, event_type: str, payload: dict[str, Any]) -> Event:
        event = Event(event_type, event_type.split(".")[0], payload)
        self.deliver(event)
        return event

    def deliver(self, event: Event) -> bool:
        with self.sessions() as session, session.begin():
            applied = handle_event(session, event)
        self.sent.append(event)
        return applied

    def program(
        self, *, student_capacity: int | None = None, priority_limit: int | None = 3
    ) -> int:
        program_id = next(self._ids)
        self.send(
            events.PROGRAM_CREATED,
            {
                "id": program_id,
                "name": f"Splash {program_id}",
                "grade_min": 7,
                "grade_max": 12,
                "student_capacity": student_capacity,
                "use_priority": False,
                "priority_limit": priority_limit,
                "registration_opens_at": None,
                "registration_closes_at": None,
            },
        )
        return program_id

    def timeslot(self, program_id: int, hour: int = 9) -> int:
        timeslot_id = next(self._ids)
        self.send(
            events.TIMESLOT_CREATED,
            {
                "id": timeslot_id,
                "program_id": program_id,
                "start": f"2026-12-05T{hour:02d}:00:00+00:00",
                "end": f"2026-12-05T{hour:02d}:50:00+00:00",
            },
        )
        return timeslot_id

    def klass(
        self,
        program_id: int,
        sections: list[tuple[int, list[int]]],
        grades: tuple[int, int] = (7, 12),
    ) -> tuple[int, list[int]]:
        """A class with sections given as (capacity, timeslot ids); its id and section ids."""
        class_id = next(self._ids)
        section_ids = [next(self._ids) for _ in sections]
        self.send(
            events.CLASS_CREATED,
            {
                "id": class_id,
                "program_id": program_id,
                "title": f"Class {class_id}",
                "grade_min": grades[0],
                "grade_max": grades[1],
                "sections": [
                    {"id": sid, "capacity": capacity, "timeslot_ids": slots}
                    for sid, (capacity, slots) in zip(section_ids, sections, strict=True)
                ],
            },
        )
        return class_id, section_ids

    def grade(self, program_id: int, student_id: int, grade: int) -> None:
        self.send(
            events.PROFILE_COMPLETED,
            {
                "profile_id": student_id,
                "program_id": program_id,
                "student_id": student_id,
                "grade": grade,
                "graduation_year": 2026 + 12 - grade,
                "school_year": 2026,
            },
        )
