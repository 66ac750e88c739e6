"""Every error code a service can answer with is snake_case (issue 8, finding 9).

The codes are collected from the source: the code argument of every ``ApiError``,
``AuthError``, ``BodyRejected`` and ``error_response`` call, the kit's status-code table, the
``*_not_found`` codes built from ``NotFound`` entities, and the reason codes. A code built
some other way would not be found here; the fuzz and matrix tests check the codes they see.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from registration_service.domain.reasons import Reason
from servicekit.domain_errors import NotFound
from servicekit.errors import _CODES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "shared" / "src", *sorted((ROOT / "services").glob("*/src"))]
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
# Callable name -> position of the code among its positional arguments.
CODE_POSITION = {
    "ApiError": 1,
    "AuthError": 1,
    "BodyRejected": 1,
    "error_response": 1,
    "error_body": 0,
}


def _called_name(call: ast.Call) -> str | None:
    function = call.func
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute):
        return function.attr
    return None


def collected_codes() -> dict[str, str]:
    """code -> where it was found."""
    codes: dict[str, str] = {code: "servicekit.errors._CODES" for code in _CODES.values()}
    codes |= {reason.value: "Reason" for reason in Reason}
    for source in SOURCES:
        for path in source.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = _called_name(node)
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if name in CODE_POSITION and len(node.args) > CODE_POSITION[name]:
                    code = node.args[CODE_POSITION[name]]
                    if isinstance(code, ast.Constant) and isinstance(code.value, str):
                        codes[code.value] = where
                if name == "NotFound" and node.args and isinstance(node.args[0], ast.Constant):
                    codes[NotFound(node.args[0].value, 1).code] = where
    return codes


def test_the_scan_finds_the_codes_we_know_of():
    codes = collected_codes()
    for known in ("malformed_body", "unsupported_media_type", "forbidden", "token_expired"):
        assert known in codes
    assert "registration_request_not_found" in codes
    assert "idempotency_key_reused" in codes
    assert "not_ready" in codes


def test_every_error_code_is_snake_case():
    bad = {code: where for code, where in collected_codes().items() if not SNAKE_CASE.match(code)}
    assert not bad, f"error codes that are not snake_case: {bad}"
