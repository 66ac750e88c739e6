"""The contract's catalog, registration-type and query endpoints over HTTP."""

import pytest
from registration_service.use_cases import requests as stored
from registration_testkit import ADMIN, CatalogBuilder, bearer

SLOT = {"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T10:50:00Z"}


def create_catalog(client):
    program = client.post(
        "/v1/programs", json={"name": "Splash", "grade_min": 7, "grade_max": 12}, headers=ADMIN
    )
    assert program.status_code == 201, program.json
    pid = program.json["id"]
    slot = client.post(f"/v1/programs/{pid}/timeslots", json=SLOT, headers=ADMIN).json["id"]
    created = client.post(
        f"/v1/programs/{pid}/classes",
        json={
            "title": "Knots",
            "grade_min": 7,
            "grade_max": 12,
            "sections": [
                {"capacity": 20, "timeslot_ids": [slot]},
                {"capacity": 5, "timeslot_ids": [slot]},
            ],
        },
        headers=ADMIN,
    )
    assert created.status_code == 201, created.json
    return pid, slot, created.json


def test_catalog_round_trip(client):
    pid, slot, created = create_catalog(client)
    assert [s["capacity"] for s in created["sections"]] == [20, 5]
    catalog = client.get(f"/v1/programs/{pid}/catalog", headers=bearer(42)).json
    (only,) = catalog["classes"]
    assert only["title"] == "Knots" and (only["grade_min"], only["grade_max"]) == (7, 12)
    assert [(s["capacity"], s["enrolled"], s["timeslot_ids"]) for s in only["sections"]] == [
        (20, 0, [slot]),
        (5, 0, [slot]),
    ]


def test_registration_types_map_creates_included_names(client):
    got = client.get(
        "/v1/registration-types?category=student&include=Enrolled,Waitlisted", headers=ADMIN
    )
    assert got.status_code == 200
    assert set(got.json) == {"Enrolled", "Waitlisted"}
    assert got.json["Waitlisted"] == {
        "name": "Waitlisted",
        "display_name": "Waitlisted",
        "description": "",
        "category": "student",
    }
    refused = client.get("/v1/registration-types?include=Enrolled", headers=ADMIN)
    assert refused.status_code == 422 and "category" in refused.json["error"]["fields"]


def test_queries_answer_for_an_empty_student(client):
    pid, slot, created = create_catalog(client)
    student = bearer(42)
    base = f"/v1/programs/{pid}/students/42"
    assert client.get(
        f"{base}/sections?verbs=Enrolled,Waitlisted&valid_only=true", headers=student
    ).json == {"sections": []}
    assert client.get(f"{base}/classes", headers=student).json == {"classes": []}
    assert client.get(f"{base}/priority?timeslot_ids={slot}", headers=student).json == {
        "priority": 1
    }
    section = created["sections"][0]["id"]
    assert client.get(f"/v1/sections/{section}/students", headers=ADMIN).json == {"student_ids": []}
    missing = client.get("/v1/programs/999/students/42/sections", headers=student)
    assert missing.status_code == 404  # looked up only when the student holds nothing


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "missing_token"),
        ({"Authorization": "Bearer nope"}, 401, "invalid_token"),
        (bearer("x", "admin", ttl=-5), 401, "token_expired"),
    ],
)
def test_every_endpoint_but_health_needs_a_valid_token(client, headers, status, code):
    response = client.get("/v1/programs", headers=headers)
    assert (response.status_code, response.json["error"]["code"]) == (status, code)
    assert client.get("/healthz").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_students_may_not_write_the_catalog_or_read_others(client):
    pid, _slot, created = create_catalog(client)
    student = bearer(42)
    denied = [
        client.post(
            "/v1/programs", json={"name": "X", "grade_min": 7, "grade_max": 8}, headers=student
        ),
        client.post(f"/v1/programs/{pid}/timeslots", json=SLOT, headers=student),
        client.get(f"/v1/programs/{pid}/students/43/classes", headers=student),
        client.get(f"/v1/sections/{created['sections'][0]['id']}/students", headers=student),
    ]
    assert [(r.status_code, r.json["error"]["code"]) for r in denied] == [(403, "forbidden")] * 4
    assert client.get(f"/v1/programs/{pid}/students/43/classes", headers=ADMIN).status_code == 200


def test_unknown_ids_are_404_in_the_envelope(client):
    for path in (
        "/v1/programs/999/catalog",
        "/v1/sections/999/students",
        "/v1/programs/999/students/1/classes",
    ):
        response = client.get(path, headers=ADMIN)
        assert response.status_code == 404
        assert response.json["error"]["code"].endswith("_not_found")
    posted = client.post("/v1/programs/999/timeslots", json=SLOT, headers=ADMIN)
    assert (
        posted.status_code == 404
        and posted.json["error"]["message"] == "Program 999 does not exist."
    )
    assert client.get("/v1/nowhere", headers=ADMIN).json["error"]["code"] == "not_found"


def test_bad_bodies_are_422_naming_each_field_and_write_nothing(client):
    pid, slot, _ = create_catalog(client)
    bad = client.post(
        f"/v1/programs/{pid}/classes",
        json={
            "title": "",
            "grade_min": 7,
            "grade_max": 99,
            "colour": "red",
            "sections": [{"capacity": -1, "timeslot_ids": ["x"]}],
        },
        headers=ADMIN,
    )
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {
        "title",
        "grade_max",
        "colour",
        "sections.0.capacity",
        "sections.0.timeslot_ids.0",
    }
    foreign = client.post(
        f"/v1/programs/{pid}/classes",
        json={
            "title": "T",
            "grade_min": 7,
            "grade_max": 8,
            "sections": [{"capacity": 1, "timeslot_ids": [slot, 999]}],
        },
        headers=ADMIN,
    )
    assert foreign.status_code == 422 and list(foreign.json["error"]["fields"]) == [
        "sections.0.timeslot_ids"
    ]
    inverted = client.post(
        "/v1/programs", json={"name": "X", "grade_min": 9, "grade_max": 8}, headers=ADMIN
    )
    assert inverted.status_code == 422 and list(inverted.json["error"]["fields"]) == ["grade_max"]
    naive = client.post(
        f"/v1/programs/{pid}/timeslots",
        json={"start": "2026-12-05T10:00:00", "end": "x"},
        headers=ADMIN,
    )
    assert naive.status_code == 422 and set(naive.json["error"]["fields"]) == {"start", "end"}
    not_json = client.post(
        "/v1/programs", data="{", headers={**ADMIN, "Content-Type": "application/json"}
    )
    assert not_json.status_code in (400, 422) and "error" in not_json.json
    titles = [
        c["title"] for c in client.get(f"/v1/programs/{pid}/catalog", headers=ADMIN).json["classes"]
    ]
    assert titles == ["Knots"]


def test_bad_query_strings_are_422(client):
    pid, _, _ = create_catalog(client)
    response = client.get(f"/v1/programs/{pid}/students/1/priority?timeslot_ids=1,x", headers=ADMIN)
    assert response.status_code == 422 and "timeslot_ids" in response.json["error"]["fields"]
    missing = client.get(f"/v1/programs/{pid}/students/1/priority", headers=ADMIN)
    assert missing.status_code == 422 and "timeslot_ids" in missing.json["error"]["fields"]


def test_readyz_reports_database_and_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_patch_a_section(client):
    pid, _, created = create_catalog(client)
    section = created["sections"][1]["id"]
    url = f"/v1/sections/{section}"
    assert client.patch(url, json={"capacity": 7}, headers=bearer(5)).status_code == 403
    changed = client.patch(url, json={"capacity": 7, "status": "closed"}, headers=ADMIN)
    assert changed.status_code == 200, changed.json
    assert (changed.json["capacity"], changed.json["status"]) == (7, "closed")
    negative = client.patch(url, json={"capacity": -1}, headers=ADMIN)
    assert (negative.status_code, list(negative.json["error"]["fields"])) == (422, ["capacity"])
    empty = client.patch(url, json={}, headers=ADMIN)
    assert list(empty.json["error"]["fields"]) == ["body"]
    assert client.patch("/v1/sections/999", json={"capacity": 1}, headers=ADMIN).status_code == 404
    catalog = client.get(f"/v1/programs/{pid}/catalog", headers=ADMIN).json
    assert catalog["classes"][0]["sections"][1]["status"] == "closed"


def test_patch_a_program(client):
    pid, _, _ = create_catalog(client)
    url = f"/v1/programs/{pid}"
    window = {
        "registration_opens_at": "2026-12-01T09:00:00Z",
        "registration_closes_at": "2026-12-08T09:00:00Z",
    }
    changed = client.patch(url, json=window, headers=ADMIN)
    assert changed.status_code == 200, changed.json
    assert changed.json["registration_opens_at"] == "2026-12-01T09:00:00+00:00"
    backwards = client.patch(
        url, json={"registration_closes_at": "2026-11-01T09:00:00Z"}, headers=ADMIN
    )
    assert list(backwards.json["error"]["fields"]) == ["registration_closes_at"]
    assert client.get(url, headers=ADMIN).json["registration_closes_at"].startswith("2026-12-08")
    assert client.patch(url, json={"name": "x"}, headers=bearer(5)).status_code == 403


def test_the_waitlist_in_order_and_each_request_knows_its_place(client, sessions):
    with sessions.begin() as session:
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=1)
        for student in (1, 2, 3):
            build.complete_profile(program, student)
    ids = {}
    for student in (1, 2, 3):
        body = {"student_id": student, "action": "enroll", "section_id": section, "waitlist": True}
        answer = client.post(
            f"/v1/programs/{program}/registration-requests", json=body, headers=bearer(student)
        )
        ids[student] = answer.json["id"]
        with sessions.begin() as session:
            stored.decide(session, ids[student])
    line = client.get(f"/v1/sections/{section}/waitlist", headers=ADMIN)
    assert line.json == {
        "students": [{"student_id": 2, "position": 1}, {"student_id": 3, "position": 2}]
    }
    assert client.get(f"/v1/sections/{section}/waitlist", headers=bearer(2)).status_code == 403
    third = client.get(f"/v1/registration-requests/{ids[3]}", headers=bearer(3)).json
    assert (third["verb"], third["position"]) == ("Waitlisted", 2)
    first = client.get(f"/v1/registration-requests/{ids[1]}", headers=bearer(1)).json
    assert (first["verb"], first["position"]) == ("Enrolled", None)
