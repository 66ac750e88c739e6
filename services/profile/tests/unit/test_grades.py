"""Grades from graduation years, ESP-style: the school year rolls over on a configurable day."""

from datetime import date

import pytest
from profile_service.domain.grades import Rollover, grade_for, graduation_year_for, school_year
from profile_service.settings import ProfileSettings
from pydantic import ValidationError

ESP = Rollover(7, 31)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 7, 30), 2026),  # the day before the rollover: still 2025-26
        (date(2026, 7, 31), 2027),  # the rollover day starts 2026-27
        (date(2026, 12, 5), 2027),
        (date(2027, 1, 10), 2027),
    ],
)
def test_school_year_is_named_by_the_year_it_ends(today, expected):
    assert school_year(today, ESP) == expected


def test_a_senior_graduates_at_the_end_of_this_school_year():
    assert grade_for(2027, date(2026, 12, 5), ESP) == 12
    assert grade_for(2031, date(2026, 12, 5), ESP) == 8
    assert grade_for(2031, date(2027, 8, 1), ESP) == 9  # one rollover later
    assert graduation_year_for(8, date(2026, 12, 5), ESP) == 2031


def test_the_rollover_day_is_configurable():
    september = Rollover.parse("09-01")
    assert grade_for(2031, date(2027, 8, 15), september) == 8
    assert grade_for(2031, date(2027, 9, 1), september) == 9


@pytest.mark.parametrize("bad", ["13-01", "07-32", "0731", "july"])
def test_a_bad_rollover_setting_is_refused_at_start(bad):
    with pytest.raises(ValidationError, match="GRADE_ROLLOVER"):
        ProfileSettings(grade_rollover=bad)
