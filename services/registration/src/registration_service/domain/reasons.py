"""Reason codes (stable, snake_case) and the sentence a student reads for each."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    SECTION_FULL = "section_full"
    SECTION_CLOSED = "section_closed"
    TIME_CONFLICT = "time_conflict"
    ALREADY_IN_CLASS = "already_in_class"
    GRADE_OUT_OF_RANGE = "grade_out_of_range"
    PROFILE_INCOMPLETE = "profile_incomplete"
    PROGRAM_FULL = "program_full"
    PRIORITY_LIMIT_REACHED = "priority_limit_reached"
    CONSTRAINT_FAILED = "constraint_failed"
    NOT_REGISTERED = "not_registered"
    DIFFERENT_CLASS = "different_class"
    REGISTRATION_CLOSED = "registration_closed"
    SECTION_REMOVED = "section_removed"
    DECISION_FAILED = "decision_failed"
    WAITLIST_LIMIT_REACHED = "waitlist_limit_reached"


MESSAGES: dict[Reason, str] = {
    Reason.SECTION_FULL: "This section is full — check out the other sections!",
    Reason.SECTION_CLOSED: "This section is not open for registration — try another section.",
    Reason.TIME_CONFLICT: (
        "This section conflicts with your schedule — check out the other sections!"
    ),
    Reason.ALREADY_IN_CLASS: "You are already registered for a section of this class.",
    Reason.GRADE_OUT_OF_RANGE: "This class is not offered to students in your grade.",
    Reason.PROFILE_INCOMPLETE: "Complete your registration profile for this program first.",
    Reason.PROGRAM_FULL: "This program has reached its student capacity; no new students can join.",
    Reason.PRIORITY_LIMIT_REACHED: (
        "You have used every priority allowed in this timeslot — remove one to add another."
    ),
    Reason.CONSTRAINT_FAILED: "Your schedule would not meet this program's requirements.",
    Reason.NOT_REGISTERED: "You are not registered in this section.",
    Reason.DIFFERENT_CLASS: "You can only switch between sections of the same class.",
    Reason.REGISTRATION_CLOSED: "Registration for this program is not open right now.",
    Reason.SECTION_REMOVED: "This section no longer exists — check out the other sections!",
    Reason.DECISION_FAILED: (
        "We could not decide this request because of an error on our side; please send it again."
    ),
    Reason.WAITLIST_LIMIT_REACHED: (
        "You are already on as many waitlists as allowed at this time; leave one to join another."
    ),
}


def message_for(reason: Reason, label: str | None = None) -> str:
    """The sentence for ``reason``; a broken schedule constraint is named by its label, which
    tells the student what to change."""
    if reason is Reason.CONSTRAINT_FAILED and label:
        ending = "" if label.endswith((".", "!", "?")) else "."
        return f"This would break a rule of the program: {label}{ending}"
    if reason is Reason.PRIORITY_LIMIT_REACHED and label:  # label: the program's priority_limit
        return f"You may choose up to {label} classes per timeslot."
    if reason is Reason.WAITLIST_LIMIT_REACHED and label:  # label: how many waitlists
        sections = "section" if label == "1" else "sections"
        return (
            f"You are already on the waitlist for {label} {sections} at this time; "
            "leave one to join another."
        )
    return MESSAGES[reason]
