"""Reading a JSON request body defensively: bounded nesting, strict UTF-8, no lone surrogates.

Python's ``json`` module recurses once per nesting level (a body nested 1,000 deep raises
``RecursionError``) and turns ``"\\ud800"`` into a string that cannot be encoded again (it fails
later, in the database driver or the log). Both are refused here, before any schema sees the
body, so every service gets the same answer to the same bad input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

DEFAULT_MAX_DEPTH = 32

# A JSON string literal, escapes included; what is left outside them is structure.
_STRING_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


class BodyRejected(ValueError):
    """A body refused before validation; ``status`` is 400 (unreadable) or 422 (bad text)."""

    def __init__(self, status: int, code: str, message: str, fields: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def nesting_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw``, counted without parsing it."""
    structure = _STRING_LITERAL.sub(b'""', raw).translate(None, _NOT_A_BRACKET)
    depth = deepest = 0
    for byte in structure:
        if byte in _OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_body(raw: bytes, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The parsed body, or :class:`BodyRejected` naming what is wrong with it."""
    if not raw.strip():
        raise _malformed("The request body is empty; send a JSON object.")
    if nesting_depth(raw) > max_depth:
        raise _malformed(f"The request body nests deeper than {max_depth} levels.")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError as exc:
        raise _malformed("The request body is not valid UTF-8.") from exc
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"The request body is not valid JSON: {exc}.") from exc
    bad = {path: [_SURROGATE_MESSAGE] for path in lone_surrogate_paths(data)}
    if bad:
        raise BodyRejected(422, "validation_error", "Some fields are not valid text.", bad)
    return data


_SURROGATE_MESSAGE = "Must be valid Unicode text; it holds a lone surrogate (such as \\ud800)."


def lone_surrogate_paths(value: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (``sections.0.title``) of strings, or keys, that are not valid Unicode."""
    if isinstance(value, str):
        if not _encodable(value):
            yield path or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            name = _printable(key)
            child = f"{path}.{name}" if path else name
            if not _encodable(key):
                yield child
            yield from lone_surrogate_paths(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from lone_surrogate_paths(item, f"{path}.{index}" if path else str(index))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _malformed(message: str) -> BodyRejected:
    return BodyRejected(400, "malformed_body", message, {"body": [message]})
