"""Schedule constraints: an organiser's rule "if condition then requirement" on a student's
schedule, with a label the student reads when a change would break it (the ESP Website's
``ScheduleConstraint``).

A condition or requirement is a JSON expression::

    {"all": [expr, ..]}   every part holds (an empty list holds)
    {"any": [expr, ..]}   some part holds (an empty list does not)
    {"not": expr}
    {"occupied": timeslot_id}          an Enrolled section in that timeslot
    {"in_class": class_id}             Enrolled in a section of that class
    {"in_sections": [section_id, ..]}  Enrolled in one of them

It is parsed into a small tree of frozen dataclasses and evaluated over the student's Enrolled
sections; nothing in it is ever executed as code. Parsing checks the shape and bounds (depth,
size, ids) and names where each error is (``requirement.all.1.occupied``); whether the ids
belong to the program is for the caller, who gets every id with its path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

MAX_DEPTH = 20
MAX_NODES = 500
MAX_ID = 2**31 - 1
OPERATORS = ("all", "any", "not", "occupied", "in_class", "in_sections")

Kind = Literal["timeslot", "class", "section"]


class Placed(Protocol):
    """A seat in the schedule (``model.Holding``): its section, class and timeslots."""

    @property
    def section_id(self) -> int: ...

    @property
    def class_id(self) -> int: ...

    @property
    def timeslot_ids(self) -> frozenset[int]: ...


@dataclass(frozen=True)
class Schedule:
    """What an expression can ask about a student's Enrolled sections."""

    section_ids: frozenset[int]
    class_ids: frozenset[int]
    timeslot_ids: frozenset[int]

    @classmethod
    def of(cls, holdings: Iterable[Placed]) -> Schedule:
        held = list(holdings)
        return cls(
            section_ids=frozenset(h.section_id for h in held),
            class_ids=frozenset(h.class_id for h in held),
            timeslot_ids=frozenset(t for h in held for t in h.timeslot_ids),
        )


@dataclass(frozen=True)
class All:
    parts: tuple[Expression, ...]

    def holds(self, schedule: Schedule) -> bool:
        return all(part.holds(schedule) for part in self.parts)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Expression, ...]

    def holds(self, schedule: Schedule) -> bool:
        return any(part.holds(schedule) for part in self.parts)


@dataclass(frozen=True)
class Not:
    part: Expression

    def holds(self, schedule: Schedule) -> bool:
        return not self.part.holds(schedule)


@dataclass(frozen=True)
class Occupied:
    timeslot_id: int

    def holds(self, schedule: Schedule) -> bool:
        return self.timeslot_id in schedule.timeslot_ids


@dataclass(frozen=True)
class InClass:
    class_id: int

    def holds(self, schedule: Schedule) -> bool:
        return self.class_id in schedule.class_ids


@dataclass(frozen=True)
class InSections:
    section_ids: frozenset[int]

    def holds(self, schedule: Schedule) -> bool:
        return not self.section_ids.isdisjoint(schedule.section_ids)


Expression = All | AnyOf | Not | Occupied | InClass | InSections


@dataclass(frozen=True)
class Reference:
    """An id an expression names, and where: the caller checks it belongs to the program."""

    path: str
    kind: Kind
    id: int


@dataclass(frozen=True)
class Parsed:
    """An expression (None when it has errors), its errors by path, and the ids it names."""

    expression: Expression | None
    errors: dict[str, list[str]] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()


class _TooLarge(Exception):
    pass


class _Parser:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.references: list[Reference] = []
        self.nodes = 0

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def count(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge

    def node(self, raw: object, path: str, depth: int) -> Expression | None:
        if depth > MAX_DEPTH:
            self.fail(path, f"Nests deeper than {MAX_DEPTH} levels.")
            return None
        self.count()
        if not isinstance(raw, dict) or len(raw) != 1:
            self.fail(path, f"Must be an object with exactly one key, one of {list(OPERATORS)}.")
            return None
        ((operator, argument),) = raw.items()
        inner = f"{path}.{operator}"
        if operator in ("all", "any"):
            if not isinstance(argument, list):
                self.fail(inner, "Must be a list of expressions.")
                return None
            parts = [self.node(item, f"{inner}.{i}", depth + 1) for i, item in enumerate(argument)]
            valid = tuple(part for part in parts if part is not None)
            if len(valid) != len(parts):
                return None
            return All(valid) if operator == "all" else AnyOf(valid)
        if operator == "not":
            part = self.node(argument, inner, depth + 1)
            return None if part is None else Not(part)
        if operator == "occupied":
            timeslot_id = self.id(argument, inner, "timeslot")
            return None if timeslot_id is None else Occupied(timeslot_id)
        if operator == "in_class":
            class_id = self.id(argument, inner, "class")
            return None if class_id is None else InClass(class_id)
        if operator == "in_sections":
            if not isinstance(argument, list):
                self.fail(inner, "Must be a list of section ids.")
                return None
            ids = []
            for index, item in enumerate(argument):
                self.count()
                ids.append(self.id(item, f"{inner}.{index}", "section"))
            if None in ids:
                return None
            return InSections(frozenset(i for i in ids if i is not None))
        name = str(operator)
        shown = name if len(name) <= 40 else f"{name[:40]}..."
        self.fail(path, f"Unknown operator {shown!r}; use one of {list(OPERATORS)}.")
        return None

    def id(self, raw: object, path: str, kind: Kind) -> int | None:
        # bool is an int in Python, never an id in JSON.
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_ID:
            self.fail(path, f"Must be a {kind} id from 1 to {MAX_ID}.")
            return None
        self.references.append(Reference(path, kind, raw))
        return raw


def parse(raw: object, path: str) -> Parsed:
    """Check ``raw`` (JSON) and build its expression; errors are named from ``path`` down."""
    parser = _Parser()
    try:
        expression = parser.node(raw, path, 1)
    except _TooLarge:
        return Parsed(None, {path: [f"Has more than {MAX_NODES} parts."]})
    if parser.errors:
        return Parsed(None, parser.errors, tuple(parser.references))
    return Parsed(expression, {}, tuple(parser.references))


def evaluate(expression: Expression, holdings: Iterable[Placed]) -> bool:
    return expression.holds(Schedule.of(holdings))


@dataclass(frozen=True)
class ScheduleConstraint:
    """When ``condition`` holds (None: always), ``requirement`` must hold too."""

    id: int
    label: str
    condition: Expression | None
    requirement: Expression

    def broken_by(self, schedule: Schedule) -> bool:
        applies = self.condition is None or self.condition.holds(schedule)
        return applies and not self.requirement.holds(schedule)

    @classmethod
    def from_json(
        cls, constraint_id: int, label: str, condition: object, requirement: object
    ) -> ScheduleConstraint:
        """Build a stored constraint (checked when it was created); ValueError if it no longer
        parses, so a bad row is never read as a rule that always or never holds."""
        parsed_condition = None if condition is None else _parsed(condition, "condition")
        return cls(constraint_id, label, parsed_condition, _parsed(requirement, "requirement"))


def _parsed(raw: object, path: str) -> Expression:
    parsed = parse(raw, path)
    if parsed.expression is None:
        raise ValueError(f"schedule constraint does not parse: {parsed.errors}")
    return parsed.expression


def first_broken(
    constraints: Iterable[ScheduleConstraint], holdings: Iterable[Placed]
) -> ScheduleConstraint | None:
    """The first constraint the schedule made of ``holdings`` breaks, if any."""
    constraints = tuple(constraints)
    if not constraints:
        return None
    schedule = Schedule.of(holdings)
    return next((c for c in constraints if c.broken_by(schedule)), None)
