"""The program's schedule constraints as linear rows of the lottery's integer program.

Every operator registration accepts has an exact encoding over a student's 0/1 assignment
columns (so the solver assigns, say, a lunch section to a student it gives classes before and
after lunch, instead of the repair taking one of them away afterwards):

- ``occupied: t`` is the sum of the student's columns whose section spans ``t`` (at most one is
  1: one section per timeslot), ``in_class: c`` the sum over the class's sections (one section
  per class), and ``in_sections: [..]`` the sum over those sections when they are all of one
  class; each is 0 or 1 already, an affine form with no new column;
- ``not e`` is ``1 - e``;
- ``all`` and ``any`` of several parts (and ``in_sections`` over several classes, an ``any``)
  get a 0/1 column ``v`` each: ``v <= e_i`` and ``v >= sum(e_i) - (k - 1)`` for ``all``,
  ``v >= e_i`` and ``v <= sum(e_i)`` for ``any``;
- a constraint "if ``condition`` then ``requirement``" is the row ``condition <= requirement``
  (no condition: ``requirement >= 1``).

Parts that cannot hold for the student (a timeslot or class none of their columns touches) are
constants and fold away. A section a requirement names (the lunch sections) is given to a student
as a column of its own even without a star (:func:`required_sections`): it counts for no
objective, and the solver takes it only where a constraint asks for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lottery_service.domain.model import Section
from lottery_service.domain.schedule_rules import ScheduleRule

Affine = tuple[float, dict[int, float]]  # constant, {column: coefficient}
Row = tuple[list[int], list[float], float, float]  # columns, coefficients, lower, upper
INF = float("inf")


def required_sections(rules: Iterable[ScheduleRule], sections: Sequence[Section]) -> set[int]:
    """The sections a requirement asks for by name (``in_sections``, or ``in_class``), outside
    any ``not``: the ones worth giving a student without a star."""
    by_class: dict[int, list[int]] = {}
    for section in sections:
        by_class.setdefault(section.class_id, []).append(section.id)
    found: set[int] = set()

    def walk(expression: Mapping[str, Any], positive: bool) -> None:
        ((operator, argument),) = expression.items()
        if operator in ("all", "any"):
            for part in argument:
                walk(part, positive)
        elif operator == "not":
            walk(argument, not positive)
        elif positive and operator == "in_sections":
            found.update(argument)
        elif positive and operator == "in_class":
            found.update(by_class.get(argument, ()))

    for rule in rules:
        walk(rule.requirement, True)
    known = {s.id for s in sections}
    return found & known


@dataclass(frozen=True)
class Aux:
    """A 0/1 column standing for ``all`` (the least of its parts) or ``any`` (the greatest)."""

    col: int
    operator: str
    parts: tuple[Affine, ...]


@dataclass
class Encoding:
    """One student's rows and the columns they add (numbered from ``next_col``)."""

    next_col: int
    rows: list[Row] = field(default_factory=list)
    aux: list[Aux] = field(default_factory=list)


def encode(
    rules: Sequence[ScheduleRule], columns: Sequence[tuple[int, Section]], encoding: Encoding
) -> None:
    """Add to ``encoding`` the rows that make ``columns`` (one student's: column, section)
    keep every rule."""
    student = _Student(columns, encoding)
    for rule in rules:
        condition = (1.0, {}) if rule.condition is None else student.expression(rule.condition)
        requirement = student.expression(rule.requirement)
        # condition - requirement <= 0
        const, coefs = _sum([condition, _scaled(requirement, -1.0)])
        if not coefs:
            if const > 1e-9:  # nothing the student can hold keeps it: they hold nothing
                every = sorted({col for col, _ in columns})
                encoding.rows.append((every, [1.0] * len(every), 0.0, 0.0))
            continue
        cols = sorted(coefs)
        encoding.rows.append((cols, [coefs[c] for c in cols], -INF, -const))


def evaluate(aux: Sequence[Aux], values: list[float]) -> None:
    """Set each aux column of ``values`` (a full column vector, its assignment columns set) to
    what its expression is worth there, in the order they were made (parts before wholes)."""
    for a in aux:
        worth = [
            const + sum(coef * values[col] for col, coef in coefs.items())
            for const, coefs in a.parts
        ]
        value = min(worth) if a.operator == "all" else max(worth)
        values[a.col] = 1.0 if value > 0.5 else 0.0


class _Student:
    def __init__(self, columns: Sequence[tuple[int, Section]], encoding: Encoding) -> None:
        self.columns = columns
        self.encoding = encoding

    def expression(self, expression: Mapping[str, Any]) -> Affine:
        ((operator, argument),) = expression.items()
        if operator == "occupied":
            return 0.0, {col: 1.0 for col, s in self.columns if argument in s.timeslot_ids}
        if operator == "in_class":
            return 0.0, {col: 1.0 for col, s in self.columns if s.class_id == argument}
        if operator == "in_sections":
            named = set(argument)
            held = [(col, s) for col, s in self.columns if s.id in named]
            if len({s.class_id for _, s in held}) <= 1:  # one class: at most one is held
                return 0.0, {col: 1.0 for col, _ in held}
            return self._combine("any", [(0.0, {col: 1.0}) for col, _ in held])
        if operator == "not":
            return _scaled(self.expression(argument), -1.0, plus=1.0)
        if operator in ("all", "any"):
            return self._combine(operator, [self.expression(part) for part in argument])
        raise ValueError(f"unknown operator {operator!r}")

    def _combine(self, operator: str, parts: list[Affine]) -> Affine:
        neutral, absorbing = (1.0, 0.0) if operator == "all" else (0.0, 1.0)
        kept = []
        for const, coefs in parts:
            if not coefs:
                if abs(const - absorbing) < 1e-9:
                    return absorbing, {}
                continue  # the neutral constant
            kept.append((const, coefs))
        if not kept:
            return neutral, {}
        if len(kept) == 1:
            return kept[0]
        encoding = self.encoding
        v = encoding.next_col
        encoding.next_col += 1
        encoding.aux.append(Aux(v, operator, tuple(kept)))
        for part in kept:  # all: v <= e_i; any: v >= e_i
            const, coefs = _sum([part, (0.0, {v: -1.0})])
            cols = sorted(coefs)
            lower, upper = (-const, INF) if operator == "all" else (-INF, -const)
            encoding.rows.append((cols, [coefs[c] for c in cols], lower, upper))
        # all: v >= sum(e_i) - (k - 1); any: v <= sum(e_i)
        const, coefs = _sum([*kept, (0.0, {v: -1.0})])
        cols = sorted(coefs)
        if operator == "all":
            encoding.rows.append((cols, [coefs[c] for c in cols], -INF, len(kept) - 1 - const))
        else:
            encoding.rows.append((cols, [coefs[c] for c in cols], -const, INF))
        return 0.0, {v: 1.0}


def _sum(parts: Iterable[Affine]) -> Affine:
    const, coefs = 0.0, dict[int, float]()
    for c, terms in parts:
        const += c
        for col, coef in terms.items():
            coefs[col] = coefs.get(col, 0.0) + coef
    return const, {col: coef for col, coef in coefs.items() if abs(coef) > 1e-12}


def _scaled(part: Affine, factor: float, plus: float = 0.0) -> Affine:
    const, coefs = part
    return const * factor + plus, {col: coef * factor for col, coef in coefs.items()}
