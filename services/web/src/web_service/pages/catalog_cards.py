"""The catalog's class cards, rendered once per catalog snapshot rather than once per page.

Four hundred sections made the catalog page's template most of its cost (about 45 ms a page on
this machine), and in the opening minute every student loads the same catalog. A card depends
on the student only through the sections they hold, and through the form token and the page's
request key in each button. So the cards of every class are rendered once per snapshot of the
shared reads (:class:`web_service.backend.SharedReads`), for a student who holds nothing, with
placeholders for the token and key; a page re-renders only the cards of the classes the
student holds (a handful), and fills the placeholders in.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from flask import render_template
from markupsafe import Markup

TOKEN_MARK = "@@form-token@@"
KEY_MARK = "@@request-key@@"
_CARD = re.compile(r"<!--card (\d+)-->\n")


class CatalogCards:
    """Each program's cards for its current snapshot (the very objects the shared reads
    returned: a new read is a new snapshot)."""

    def __init__(self) -> None:
        self._kept: dict[int, tuple[object, object, str, dict[int, str]]] = {}
        self._rendering: dict[int, threading.Lock] = {}  # per program that exists
        self._lock = threading.Lock()

    def page(
        self,
        program: dict[str, Any],
        classes: list[dict[str, Any]],
        data: dict[str, Any],
        catalog: object,
        token: str,
        key: str,
    ) -> Markup:
        """The cards of ``classes`` for this student (``data``: held, held_classes, timeslots),
        the form token and request key filled in."""
        everyone = self._for_everyone(program, data, catalog)
        held = {row["class_id"] for row in data["held"].values()}
        own = _render(program, [c for c in classes if c["id"] in held], data, token, key)
        html = "".join(own.get(c["id"]) or everyone.get(c["id"], "") for c in classes)
        return Markup(html.replace(TOKEN_MARK, token).replace(KEY_MARK, key))

    def _for_everyone(
        self, program: dict[str, Any], data: dict[str, Any], catalog: object
    ) -> dict[int, str]:
        """The cards for a student who holds nothing, rendered once per snapshot: the pages that
        ask while it is being rendered wait for it (in an opening's first second a hundred
        pages of a process each rendered the same 400 cards)."""
        timeslots, zone = data["timeslots_snapshot"], program.get("time_zone") or "UTC"
        with self._lock:
            render_lock = self._rendering.setdefault(program["id"], threading.Lock())
        with render_lock:
            kept = self._kept.get(program["id"])
            if kept and kept[0] is catalog and kept[1] is timeslots and kept[2] == zone:
                return kept[3]
            nobody = data | {"held": {}, "held_classes": {}}
            classes = catalog["classes"]  # type: ignore[index]
            cards = _render(program, classes, nobody, TOKEN_MARK, KEY_MARK)
            self._kept[program["id"]] = (catalog, timeslots, zone, cards)
            return cards


def _render(
    program: dict[str, Any],
    classes: list[dict[str, Any]],
    data: dict[str, Any],
    token: str,
    key: str,
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
        token=token,
        key=key,
    )
    parts = _CARD.split(html)  # ["", id, card, id, card, ...]
    return {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
