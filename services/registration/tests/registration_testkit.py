"""Helpers the registration tests share: tokens, a fixed clock and a catalog builder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devstack.tokens import issue_token
from registration_service.events import LOTTERY_RUN_COMMITTED, PROFILE_COMPLETED
from registration_service.use_cases import catalog
from registration_service.use_cases.profiles import handle_profile_event
from servicekit.events import Event
from sqlalchemy.orm import Session

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
# When a lottery run's registrations start: the run is committed before the window opens.
RUN_STARTS_AT = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)


# Two hours: a module's tokens are signed at import (collection), and the suite runs for 8-15
# minutes on a 2-core machine; a token signed for 10 minutes expired before a late test used it.
TOKEN_TTL = 7200


def bearer(subject: int | str, role: str = "student", ttl: int = TOKEN_TTL) -> dict[str, str]:
    """Headers with a token for ``subject`` (the same order as ``profile_testkit.bearer``)."""
    return {"Authorization": f"Bearer {issue_token(subject, role, ttl)}"}


ADMIN = bearer("admin", "admin")


class CatalogBuilder:
    """Sets up programs, timeslots and sections through the use cases, for tests to read."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def program(self, **overrides: object) -> int:
        values = {"name": "Splash", "grade_min": 7, "grade_max": 12, **overrides}
        return catalog.create_program(self.session, catalog.NewProgram(**values)).id

    def timeslot(self, program_id: int, hour: int = 0) -> int:
        start = T0 + timedelta(hours=hour)
        return catalog.add_timeslot(
            self.session, program_id, start, start + timedelta(minutes=50)
        ).id

    def section(
        self,
        program_id: int,
        timeslot_ids: list[int],
        capacity: int = 10,
        grades: tuple[int, int] = (7, 12),
    ) -> int:
        class_ = catalog.add_class(
            self.session,
            program_id,
            "Class",
            grades[0],
            grades[1],
            [catalog.NewSection(capacity, tuple(timeslot_ids))],
        )
        return class_.sections[0].id

    def sections_of_one_class(
        self, program_id: int, slots: list[list[int]], capacity: int = 10
    ) -> list[int]:
        class_ = catalog.add_class(
            self.session,
            program_id,
            "Class",
            7,
            12,
            [catalog.NewSection(capacity, tuple(s)) for s in slots],
        )
        return [s.id for s in class_.sections]

    def complete_profile(self, program_id: int, student_id: int, grade: int = 9) -> None:
        """As the profile service's completion event would."""
        payload = {"program_id": program_id, "student_id": student_id, "grade": grade}
        handle_profile_event(self.session, Event(PROFILE_COMPLETED, "profile", payload))


def lottery_event(
    program_id: int,
    assignments: list[tuple[int, int]],
    event_type: str = LOTTERY_RUN_COMMITTED,
    run_id: int = 17,
    **envelope: str,
) -> Event:
    """A lottery run's commit (or revert) of ``(student, section)`` assignments, in one part, as
    the lottery service publishes it."""
    payload = {
        "run_id": run_id,
        "program_id": program_id,
        "starts_at": RUN_STARTS_AT.isoformat(),
        "part": 1,
        "parts": 1,
        "assignments": [{"student_id": s, "section_id": section} for s, section in assignments],
    }
    return Event(event_type, "lottery", payload, **envelope)
