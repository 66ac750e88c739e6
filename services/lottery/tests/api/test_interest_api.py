"""Stars, priorities and the import over HTTP: access, status codes and named fields."""

from __future__ import annotations

import jsonschema_rs
import pytest
from lottery_api_kit import ADMIN, bearer


@pytest.fixture
def program(catalog):
    program = catalog.program(priority_limit=2)
    t1, t2 = catalog.timeslot(program, 9), catalog.timeslot(program, 10)
    a, _ = catalog.klass(program, [(10, [t1]), (10, [t2])])
    b, _ = catalog.klass(program, [(10, [t1])])
    senior, _ = catalog.klass(program, [(10, [t2])], grades=(11, 12))
    catalog.grade(program, 5, 9)
    return {"id": program, "t1": t1, "t2": t2, "a": a, "b": b, "senior": senior}


def test_a_student_stars_lists_and_unstars(client, program):
    base = f"/v1/programs/{program['id']}/students/5/stars"
    me = bearer(5)
    created = client.post(base, json={"class_id": program["a"]}, headers=me)
    assert created.status_code == 201
    assert created.json["class_id"] == program["a"]
    assert client.get(base, headers=me).json == {"class_ids": [program["a"]]}
    interested = f"/v1/programs/{program['id']}/classes/{program['a']}/interested-students"
    assert client.get(interested, headers=ADMIN).json == {"student_ids": [5]}
    assert client.get(interested, headers=me).status_code == 403
    assert client.delete(f"{base}/{program['a']}", headers=me).status_code == 204
    assert client.get(base, headers=me).json == {"class_ids": []}
    assert client.delete(f"{base}/{program['a']}", headers=me).status_code == 404


def test_stars_are_refused_with_a_reason(client, program):
    base = f"/v1/programs/{program['id']}/students/5/stars"
    outside = client.post(base, json={"class_id": program["senior"]}, headers=bearer(5))
    assert outside.status_code == 422
    assert "grades 11-12" in outside.json["error"]["fields"]["class_id"][0]
    other = client.post(base, json={"class_id": program["a"]}, headers=bearer(6))
    assert other.status_code == 403
    missing = client.post("/v1/programs/999/students/5/stars", json={"class_id": 1}, headers=ADMIN)
    assert missing.status_code == 404


def test_priorities_round_trip_and_name_the_bad_entry(client, program):
    url = f"/v1/programs/{program['id']}/students/5/priorities"
    t1, a, b = str(program["t1"]), program["a"], program["b"]
    saved = client.put(url, json={t1: [b, a]}, headers=bearer(5))
    assert saved.status_code == 200, saved.json
    assert saved.json == {t1: [b, a]}
    assert client.get(url, headers=bearer(5)).json == {t1: [b, a]}
    too_many = client.put(url, json={t1: [b, a, program["senior"]]}, headers=bearer(5))
    assert too_many.status_code == 422
    fields = too_many.json["error"]["fields"]
    assert fields[t1] == ["You may choose up to 2 classes per timeslot."]
    assert "grades 11-12" in fields[f"{t1}.2"][0]
    not_an_id = client.put(url, json={"first": [a], t1: ["x"]}, headers=bearer(5))
    assert set(not_an_id.json["error"]["fields"]) == {"first", f"{t1}.0"}
    assert client.get(url, headers=bearer(5)).json == {t1: [b, a]}  # nothing saved


def test_the_import_is_admin_only_all_or_nothing_and_may_be_large(client, program):
    url = f"/v1/programs/{program['id']}/preferences"
    t1 = program["t1"]
    body = {
        "stars": [{"student_id": 5, "class_id": program["a"]}],
        "priorities": [
            {"student_id": 5, "timeslot_id": t1, "rank": 1, "class_id": program["b"]},
            {"student_id": 5, "timeslot_id": t1, "rank": 3, "class_id": program["a"]},
        ],
    }
    assert client.put(url, json=body, headers=bearer(5)).status_code == 403
    refused = client.put(url, json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert list(refused.json["error"]["fields"]) == ["priorities.1.rank"]
    body["priorities"].pop()
    # Over the 1 MiB every other endpoint allows: an import of a whole program is large.
    body["stars"] *= 30_000
    imported = client.put(url, json=body, headers=ADMIN)
    assert imported.status_code == 200, imported.json
    assert imported.json == {"stars": 2, "priorities": 1, "caps": 0}
    stars = client.get(f"/v1/programs/{program['id']}/students/5/stars", headers=ADMIN)
    assert stars.json == {"class_ids": sorted([program["a"], program["b"]])}


@pytest.mark.parametrize(
    "key",
    ["1", "2147483647", "2147483648", "0", "01", "first", "-3", "99999999999"],
)
def test_the_documented_priorities_body_admits_exactly_what_the_server_takes(client, key):
    """The OpenAPI document's keys (``propertyNames``) and values agree with the server: a
    fuzzer that follows the document never sends a body the server refuses for its shape."""
    document = client.get("/openapi.json").json
    schema = document["components"]["schemas"]["Ranking"]
    for value in ([1, 2], [0], ["x"], "1", [2**31]):
        body = {key: value}
        admitted = jsonschema_rs.validator_for(schema).is_valid(body)
        shape = client.put("/v1/programs/999/students/5/priorities", json=body, headers=ADMIN)
        # The shape is checked before the program: a body of the right shape is a 404 here.
        assert admitted == (shape.status_code == 404), (body, shape.json)
