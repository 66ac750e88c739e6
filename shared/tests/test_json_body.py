"""Reading JSON bodies defensively: depth counted without parsing, strict text."""

import pytest
from servicekit.json_body import BodyRejected, nesting_depth, parse_json_body


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets inside strings are text
        (b'{"a": "\\"[[[["}', 1),  # so are escaped quotes before them
        (b"[" * 5000 + b"]" * 5000, 5000),
    ],
)
def test_nesting_depth(raw, depth):
    assert nesting_depth(raw) == depth


def test_bodies_within_the_limit_parse():
    assert parse_json_body(b'{"a": {"b": [1, 2]}}', max_depth=3) == {"a": {"b": [1, 2]}}


@pytest.mark.parametrize(
    "raw",
    [b"", b"  \n", b"{", b"[" * 33 + b"]" * 33, b'"\xff"', b"NaN-ish", b'{"a": 1} trailing'],
)
def test_unreadable_bodies_are_400_malformed_body(raw):
    with pytest.raises(BodyRejected) as refused:
        parse_json_body(raw)
    assert (refused.value.status, refused.value.code) == (400, "malformed_body")
    assert list(refused.value.fields) == ["body"]


def test_lone_surrogates_are_named_by_their_path():
    raw = b'{"ok": "fine", "name": "a\\ud800", "list": [{"t": "\\udc00"}], "\\ud801": 1}'
    with pytest.raises(BodyRejected) as refused:
        parse_json_body(raw)
    assert refused.value.status == 422
    assert set(refused.value.fields) == {"name", "list.0.t", "\\ud801"}


def test_paired_surrogates_are_ordinary_text():
    assert parse_json_body(b'{"emoji": "\\ud83d\\ude00"}') == {"emoji": "\U0001f600"}


def test_the_id_pattern_matches_exactly_the_ids():
    import re

    from servicekit.schema_fields import ID_PATTERN, MAX_ID

    pattern = re.compile(f"^{ID_PATTERN}$")
    for n in (1, 9, 10, 999_999_999, 1_000_000_000, 2_147_483_639, MAX_ID):
        assert pattern.match(str(n)), n
    for text in ("0", "01", "-1", str(MAX_ID + 1), "2147483650", "9999999999", "1" * 11, ""):
        assert not pattern.match(text), text
    for n in range(2_147_483_000, MAX_ID + 200):
        assert bool(pattern.match(str(n))) == (n <= MAX_ID), n
