"""The catalog's cards from the skeleton (rendered once per structure, seats filled in per
snapshot) are the cards the template renders for that snapshot, whatever the seats; and a
button's value is read as the request it names, anything else refused."""

from __future__ import annotations

import copy
import gzip
import re
import zlib

import pytest
from web_service.pages import catalog_cards, gzipped
from web_service.pages.catalog_cards import CatalogCards, Filled, _render
from web_service.pages.gzipped import gzip_member
from web_service.pages.student import asked_for

PROGRAM = {"id": 1, "name": "Splash", "time_zone": "America/New_York"}
SLOTS = {
    "timeslots": [
        {"id": 1, "start": "2027-03-06T15:00:00+00:00", "end": "2027-03-06T15:50:00+00:00"}
    ]
}


def catalog(enrolled: list[int], status: str = "open") -> dict:
    sections = [
        {
            "id": 10 + n,
            "capacity": 3,
            "enrolled": e,
            "status": status if n == 0 else "open",
            "timeslot_ids": [1],
        }
        for n, e in enumerate(enrolled)
    ]
    return {
        "classes": [
            {
                "id": 5,
                "title": "Knots & <Bows>",
                "grade_min": 7,
                "grade_max": 12,
                "sections": sections,
            },
            {
                "id": 6,
                "title": "Origami",
                "grade_min": 9,
                "grade_max": 12,
                "sections": [
                    {"id": 20, "capacity": 1, "enrolled": 1, "status": "open", "timeslot_ids": [1]}
                ],
            },
        ]
    }


def flat(html: str) -> str:
    """The same HTML but for the blank between tags (the template's lines fall differently)."""
    return re.sub(r">\s+<", "><", " ".join(html.split()))


def data_for(shown: dict, held: dict | None = None) -> dict:
    held = held or {}
    return {
        "catalog": shown,
        "classes": shown["classes"],
        "timeslots_snapshot": SLOTS,
        "timeslots": {s["id"]: s for s in SLOTS["timeslots"]},
        "held": held,
        "held_classes": {
            r["class_id"]: r["section_id"] for r in held.values() if r["verb"] == "Enrolled"
        },
    }


@pytest.mark.parametrize(
    ("enrolled", "status"),
    [([0, 1, 2], "open"), ([3, 0, 3], "open"), ([4, 3, 0], "closed"), ([0, 0, 0], "closed")],
)
def test_skeleton_filled_in_is_the_card_rendered_whole(app, enrolled, status):
    cards = CatalogCards()
    with app.test_request_context():
        cards.page(PROGRAM, catalog([1, 1, 1])["classes"], data_for(catalog([1, 1, 1])))
        shown = catalog(enrolled, status)  # a later snapshot: new seats, maybe a section closed
        data = data_for(shown)
        page = cards.page(PROGRAM, shown["classes"], data).decode()
        whole = _render(PROGRAM, shown["classes"], data, skeleton=False)
    assert flat(page) == flat(whole[5] + whole[6])
    assert "<!--" not in page and "&lt;Bows&gt;" in page
    full = [10 + n for n, e in enumerate(enrolled) if e >= 3]
    for section in full:
        if status == "open" or section != 10:
            assert f'value="waitlist {section}"' in page


def test_a_held_class_is_rendered_for_the_student(app):
    shown = catalog([1, 3, 0])
    held = {11: {"section_id": 11, "class_id": 5, "verb": "Enrolled"}}
    with app.test_request_context():
        page = CatalogCards().page(PROGRAM, shown["classes"], data_for(shown, held)).decode()
    assert 'value="drop 11"' in page and 'value="switch 10 11"' in page
    assert 'value="switch 12 11"' in page and 'value="enroll 10"' not in page
    assert 'value="waitlist 20"' in page  # the class not held: from the skeleton, full


def test_the_skeleton_is_rendered_again_only_when_the_structure_changes(app):
    cards = CatalogCards()
    with app.test_request_context():
        first = catalog([0, 0, 0])
        cards.page(PROGRAM, first["classes"], data_for(first))
        skeleton = cards._skeletons[1]
        seats = catalog([2, 3, 1])
        cards.page(PROGRAM, seats["classes"], data_for(seats))
        assert cards._skeletons[1] is skeleton
        bigger = copy.deepcopy(seats)
        bigger["classes"][0]["sections"][0]["capacity"] = 9
        page = cards.page(PROGRAM, bigger["classes"], data_for(bigger)).decode()
        assert cards._skeletons[1] is not skeleton and "</span> of 9" in page


@pytest.mark.parametrize(
    ("do", "body"),
    [
        ("enroll 12", {"action": "enroll", "section_id": 12}),
        ("waitlist 12", {"action": "enroll", "section_id": 12, "waitlist": True}),
        ("drop 7", {"action": "drop", "section_id": 7}),
        ("switch 12 7", {"action": "switch", "section_id": 12, "from_section_id": 7}),
    ],
)
def test_a_buttons_value_is_the_request_it_names(do, body):
    assert asked_for(do) == body


@pytest.mark.parametrize(
    "do",
    [
        "",
        "enroll",
        "enroll x",
        "enroll 12 7",
        "switch 12",
        "steal 12",
        "enroll -1",
        "enroll ²",
        "enroll 0",
        "enroll 99999999999",
    ],
)
def test_any_other_value_is_refused(do):
    assert asked_for(do) is None


def test_without_shared_reads_every_page_renders_every_card(app):
    """The per-page design the benchmark compares against borrows nothing: no skeleton."""
    cards = CatalogCards(shared=False)
    shown = catalog([1, 3, 0])
    with app.test_request_context():
        page = cards.page(PROGRAM, shown["classes"], data_for(shown)).decode()
        whole = _render(PROGRAM, shown["classes"], data_for(shown), skeleton=False)
    assert page == whole[5] + whole[6] and cards._skeletons == {}


def test_a_page_is_the_snapshots_text_with_the_students_own_cards_in_place():
    filled = Filled.of([1, 2, 3, 4], {1: "a", 2: "bé", 3: "c", 4: "dd"})
    assert filled.with_own([1, 2, 3, 4], {}) == "abécdd".encode()
    assert filled.with_own([1, 2, 3, 4], {3: b"C!", 1: b"A"}) == "Abé".encode() + b"C!dd"
    assert filled.with_own([1, 2, 3, 4], {4: b"D"}) == "abéc".encode() + b"D"
    assert filled.with_own([4, 2], {2: b"B"}) == b"ddB"  # a grade or a search: as listed


def test_a_pages_pieces_are_its_cards_each_chunk_deflated_once_unless_it_holds_its_own(
    monkeypatch,
):
    monkeypatch.setattr(catalog_cards, "CHUNK_CARDS", 2)
    order = [1, 2, 3, 4, 5]
    filled = Filled.of(order, {c: f"<card {c}>{'é' * c}</card>" for c in order})
    assert [start for start, *_ in filled.chunks] == [0, filled.spans[3][0], filled.spans[5][0]]
    for own in ({}, {3: b"mine"}, {1: b"A", 2: b"B", 5: b"E"}, {4: b""}):
        pieces = filled.segments(order, own)
        assert b"".join(text for text, _ in pieces) == filled.with_own(order, own)
        for (text, packed), (_, _, kept, deflated) in zip(pieces, filled.chunks, strict=True):
            if packed is None:  # a chunk holding the student's own card: made for this page
                assert text != kept
            else:
                assert packed is deflated and zlib.decompressobj(-15).decompress(packed) == text
        page = gzip_member([(b"<head token>", gzipped.stored(b"<head token>")), *pieces])
        assert gzip.decompress(page) == b"<head token>" + filled.with_own(order, own)
        assert b"<head token>" in page  # stored: in no compression window
    assert filled.segments([5, 1], {1: b"A"}) == [(filled.with_own([5, 1], {1: b"A"}), None)]


def test_a_gzip_member_of_no_pieces_is_the_empty_text():
    assert gzip.decompress(gzip_member([])) == b""
