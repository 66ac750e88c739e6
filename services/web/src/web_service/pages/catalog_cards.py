"""The catalog's class cards, rendered once per catalog structure rather than once per page.

Four hundred sections made the catalog page's template most of its cost, and in the opening
minute every student loads the same catalog. A card depends on the student only through the
sections they hold, and on the moment only through each open section's seats left (and so its
button: Add, or Join the waitlist when full). So:

- the cards of every class are rendered once per *structure* (classes, sections, capacities,
  statuses, timeslots, time zone) for a student who holds nothing, with each open section's
  seats and its two possible buttons marked (:class:`Skeleton`);
- each new snapshot of the shared reads (:class:`web_service.backend.SharedReads`, once a
  second in a rush) only fills the marks in: a join of strings, not a template;
- a page re-renders only the cards of the classes the student holds (a handful), and puts
  them, as UTF-8, in place of theirs in that snapshot's text (:class:`Filled`).

The form token and request key are not in the cards: the catalog has one form around them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from flask import render_template

from web_service.pages.gzipped import Segment, deflated

_CARD = re.compile(r"<!--card (\d+)-->\n")
_INDENT = re.compile(r"\n\s+")  # a run of blanks shows as one: the template's indents go
_MARK = re.compile(
    r"<!--seats (\d+)-->|<!--choice (\d+)-->(.*?)<!--or-->(.*?)<!--end-->", re.DOTALL
)

Piece = str | tuple[int] | tuple[int, str, str]  # text; a section's seats; its two buttons
# Cards per compressed chunk (about 16 KB of text): a page recompresses only the chunks that
# hold its student's own cards. Whole, the 400-section catalog packs to 16 KB, in chunks of 16
# cards to 24 KB, one by one to 110 KB.
CHUNK_CARDS = 8


@dataclass(frozen=True)
class Skeleton:
    """Every class's card as text and marks, for one catalog structure."""

    structure: tuple[Any, ...]
    cards: dict[int, list[Piece]]

    def fill(self, left: dict[int, int]) -> dict[int, str]:
        """The cards with each marked section's seats ``left`` (and so its button)."""
        filled = {}
        for class_id, pieces in self.cards.items():
            parts = []
            for piece in pieces:
                if isinstance(piece, str):
                    parts.append(piece)
                elif len(piece) == 1:
                    parts.append(str(max(0, left.get(piece[0], 0))))
                else:
                    parts.append(piece[1] if left.get(piece[0], 0) > 0 else piece[2])
            filled[class_id] = "".join(parts)
        return filled


def structure(
    catalog: dict[str, Any], timeslots: dict[int, dict[str, Any]], zone: str
) -> tuple[Any, ...]:
    """What the skeleton depends on: everything of the catalog but the seats taken."""
    return (
        zone,
        tuple((t, slot["start"], slot["end"]) for t, slot in sorted(timeslots.items())),
        tuple(
            (
                c["id"],
                c["title"],
                c["grade_min"],
                c["grade_max"],
                tuple(
                    (s["id"], s["capacity"], s["status"], tuple(s["timeslot_ids"]))
                    for s in c["sections"]
                ),
            )
            for c in catalog["classes"]
        ),
    )


def seats_left(catalog: dict[str, Any]) -> dict[int, int]:
    return {
        s["id"]: s["capacity"] - s["enrolled"] for c in catalog["classes"] for s in c["sections"]
    }


@dataclass(frozen=True)
class Filled:
    """One snapshot's cards for a student who holds nothing, as UTF-8: each class's, and all of
    them in catalog order with where each one lies (a page of the whole catalog is that text
    with the student's own cards put in place of theirs: a few slices, not 400 joins)."""

    cards: dict[int, bytes]
    order: list[int]
    whole: bytes
    spans: dict[int, tuple[int, int]]

    @classmethod
    def of(cls, order: list[int], cards: dict[int, str]) -> Filled:
        encoded = {class_id: card.encode() for class_id, card in cards.items()}
        spans, at = {}, 0
        for class_id in order:
            size = len(encoded.get(class_id, b""))
            spans[class_id] = (at, at + size)
            at += size
        whole = b"".join(encoded.get(class_id, b"") for class_id in order)
        return cls(encoded, order, whole, spans)

    @cached_property
    def chunks(self) -> list[tuple[int, int, bytes, bytes]]:
        """The cards in runs of ``CHUNK_CARDS``: where each run lies in ``whole``, its text,
        and that text deflated (made once per snapshot, on the first page that asks)."""
        runs = []
        for first in range(0, len(self.order), CHUNK_CARDS):
            ids = self.order[first : first + CHUNK_CARDS]
            start, end = self.spans[ids[0]][0], self.spans[ids[-1]][1]
            text = self.whole[start:end]
            runs.append((start, end, text, deflated(text)))
        return runs

    def segments(self, order: list[int], own: dict[int, bytes]) -> list[Segment]:
        """What :meth:`with_own` gives, as pieces for a gzip response: each chunk without an
        own card as already deflated, the rest to be deflated for this page."""
        if order != self.order:
            return [(self.with_own(order, own), None)]
        pieces: list[Segment] = []
        for start, end, text, packed in self.chunks:
            inside = sorted((self.spans[c][0], c) for c in own if start <= self.spans[c][0] < end)
            if not inside:
                pieces.append((text, packed))
                continue
            parts, at = [], start
            for card_start, class_id in inside:
                parts += [self.whole[at:card_start], own[class_id]]
                at = self.spans[class_id][1]
            parts.append(self.whole[at:end])
            pieces.append((b"".join(parts), None))
        return pieces

    def with_own(self, order: list[int], own: dict[int, bytes]) -> bytes:
        """The cards of the classes ``order``, the student's ``own`` in place of theirs."""
        if order != self.order:  # a grade or a search: the classes shown, one by one
            return b"".join(own.get(c) or self.cards.get(c, b"") for c in order)
        parts, at = [], 0
        for class_id in sorted(own, key=lambda c: self.spans[c][0]):
            start, end = self.spans[class_id]
            parts += [self.whole[at:start], own[class_id]]
            at = end
        parts.append(self.whole[at:])
        return b"".join(parts)


class CatalogCards:
    """Each program's skeleton, and its cards filled in for the current snapshot (the very
    objects the shared reads returned: a new read is a new snapshot)."""

    def __init__(self, shared: bool = True) -> None:
        """``shared`` False: every page renders every card itself (the per-page design
        ``SHARED_READS_SECONDS=0`` stands for, which ``make bench-pages`` compares against)."""
        self.shared = shared
        self._skeletons: dict[int, Skeleton] = {}
        self._filled: dict[int, tuple[object, object, str, Filled]] = {}
        self._rendering: dict[int, threading.Lock] = {}  # per program that exists
        self._lock = threading.Lock()

    def page(
        self, program: dict[str, Any], classes: list[dict[str, Any]], data: dict[str, Any]
    ) -> bytes:
        """The cards of ``classes`` for this student (``data``: catalog, held, held_classes,
        timeslots), as UTF-8: the page puts them in its template's place for them (the
        catalog's 400 sections are most of the page, and went through the template's escaping
        and the response's encoding on every page)."""
        everyone, order, own = self._cards(program, classes, data)
        return own[0] if everyone is None else everyone.with_own(order, own)

    def page_segments(
        self, program: dict[str, Any], classes: list[dict[str, Any]], data: dict[str, Any]
    ) -> list[Segment]:
        """:meth:`page` in pieces for a gzip response, each with its deflate where one is kept
        (the per-page design keeps none)."""
        everyone, order, own = self._cards(program, classes, data)
        return [(own[0], None)] if everyone is None else everyone.segments(order, own)

    def _cards(
        self, program: dict[str, Any], classes: list[dict[str, Any]], data: dict[str, Any]
    ) -> tuple[Filled | None, list[int], dict[int, bytes]]:
        """The snapshot's cards for everyone, the classes' order, and the student's own cards
        (per page, without sharing: no snapshot, and every card under the key 0)."""
        order = [c["id"] for c in classes]
        if not self.shared:
            cards = _render(program, classes, data, skeleton=False)
            return None, order, {0: "".join(cards.get(c, "") for c in order).encode()}
        everyone = self._for_everyone(program, data)
        held = {row["class_id"] for row in data["held"].values()}
        mine = _render(program, [c for c in classes if c["id"] in held], data, skeleton=False)
        return everyone, order, {c: html.encode() for c, html in mine.items()}

    def _for_everyone(self, program: dict[str, Any], data: dict[str, Any]) -> Filled:
        """The cards for a student who holds nothing, filled in once per snapshot: the pages
        that ask meanwhile wait for it (in an opening's first second a hundred pages of a
        process each rendered the same 400 cards)."""
        catalog, timeslots = data["catalog"], data["timeslots_snapshot"]
        zone = program.get("time_zone") or "UTC"
        kept = self._filled.get(program["id"])
        if kept and kept[0] is catalog and kept[1] is timeslots and kept[2] == zone:
            return kept[3]
        with self._lock:
            render_lock = self._rendering.setdefault(program["id"], threading.Lock())
        with render_lock:
            kept = self._filled.get(program["id"])
            if kept and kept[0] is catalog and kept[1] is timeslots and kept[2] == zone:
                return kept[3]
            shape = structure(catalog, data["timeslots"], zone)
            skeleton = self._skeletons.get(program["id"])
            if skeleton is None or skeleton.structure != shape:
                skeleton = Skeleton(shape, _skeleton(program, data))
                self._skeletons[program["id"]] = skeleton
            order = [c["id"] for c in catalog["classes"]]
            filled = Filled.of(order, skeleton.fill(seats_left(catalog)))
            self._filled[program["id"]] = (catalog, timeslots, zone, filled)
            return filled


def _skeleton(program: dict[str, Any], data: dict[str, Any]) -> dict[int, list[Piece]]:
    nobody = data | {"held": {}, "held_classes": {}}
    html = _render(program, data["catalog"]["classes"], nobody, skeleton=True)
    return {class_id: _pieces(card) for class_id, card in html.items()}


def _pieces(card: str) -> list[Piece]:
    pieces: list[Piece] = []
    at = 0
    for mark in _MARK.finditer(card):
        pieces.append(card[at : mark.start()])
        if mark.group(1):
            pieces.append((int(mark.group(1)),))
        else:
            pieces.append((int(mark.group(2)), mark.group(3), mark.group(4)))
        at = mark.end()
    pieces.append(card[at:])
    return pieces


def _render(
    program: dict[str, Any], classes: list[dict[str, Any]], data: dict[str, Any], skeleton: bool
) -> dict[int, str]:
    if not classes:
        return {}
    html = render_template(
        "_class_cards.html",
        program=program,
        classes=classes,
        held=data["held"],
        held_classes=data["held_classes"],
        timeslots=data["timeslots"],
        skeleton=skeleton,
    )
    parts = _CARD.split(_INDENT.sub("\n", html))  # ["", id, card, id, card, ...]
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
