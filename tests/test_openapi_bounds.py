"""Every input the OpenAPI documents describe is bounded (issue 8): integers have a minimum and a
maximum, strings a maximum length, a pattern, an enum or a bounded format. A field added
without bounds fails here, before a fuzzer finds the 500 it would cause."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("registration", "profile", "lottery")
BOUNDED_FORMATS = {"date-time", "date", "email"}  # parsed by the schema; length-checked too


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def inputs(document: dict) -> Iterator[tuple[str, dict]]:
    """(where, schema) for every parameter and every request body field, nested included."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                for parameter in operation:
                    yield f"{path} {parameter['name']}", parameter["schema"]
                continue
            for parameter in operation.get("parameters", []):
                yield f"{method.upper()} {path} {parameter['name']}", parameter["schema"]
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                yield from _fields(document, body["schema"], f"{method.upper()} {path} body")


def _fields(document: dict, schema: dict, where: str) -> Iterator[tuple[str, dict]]:
    schema = _resolve(document, schema)
    if schema.get("type") == "object" or "properties" in schema:
        for name, child in schema.get("properties", {}).items():
            yield from _fields(document, child, f"{where}.{name}")
    elif schema.get("type") == "array":
        yield from _fields(document, schema["items"], f"{where}[]")
    else:
        yield where, schema


def unbounded(schema: dict) -> bool:
    kind = schema.get("type")
    if kind == "integer":
        return "minimum" not in schema or "maximum" not in schema
    if kind == "string" or "pattern" in schema:
        return not (
            "maxLength" in schema
            or "enum" in schema
            or "pattern" in schema
            or schema.get("format") in BOUNDED_FORMATS
        )
    return kind not in ("boolean", None) and kind != "number"


@pytest.mark.parametrize("service", SERVICES)
def test_every_input_is_bounded(service):
    document = json.loads((ROOT / "services" / service / "openapi.json").read_text())
    loose = [where for where, schema in inputs(document) if unbounded(schema)]
    assert not loose, f"inputs without bounds: {loose}"


def test_the_walk_sees_nested_fields():
    document = json.loads((ROOT / "services" / "registration" / "openapi.json").read_text())
    names = {where for where, _ in inputs(document)}
    assert "POST /v1/programs/{program_id}/classes body.sections[].capacity" in names
    assert "/v1/programs/{program_id} program_id" in names
