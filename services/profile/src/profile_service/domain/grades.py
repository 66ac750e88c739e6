"""Grades the way the ESP Website computes them: from the graduation year and the school year.

A school year is named by the calendar year it ends in, and rolls over to the next on a
configurable day (the ESP Website's is 31 July), so a student's grade rises once a year on that
day. A student in grade ``g`` during school year ``y`` graduates in ``y + 12 - g``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

HIGHEST_GRADE = 12


@dataclass(frozen=True)
class Rollover:
    """The day of the year a new school year begins (``MM-DD``)."""

    month: int = 7
    day: int = 31

    @classmethod
    def parse(cls, text: str) -> Rollover:
        month, day = (int(part) for part in text.split("-"))
        date(2000, month, day)  # a leap year, so 02-29 is allowed; raises on nonsense
        return cls(month, day)


def school_year(today: date, rollover: Rollover) -> int:
    """The school year ``today`` falls in, named by the calendar year it ends in."""
    starts_new = (today.month, today.day) >= (rollover.month, rollover.day)
    return today.year + 1 if starts_new else today.year


def grade_for(graduation_year: int, today: date, rollover: Rollover) -> int:
    return school_year(today, rollover) + HIGHEST_GRADE - graduation_year


def graduation_year_for(grade: int, today: date, rollover: Rollover) -> int:
    return school_year(today, rollover) + HIGHEST_GRADE - grade
