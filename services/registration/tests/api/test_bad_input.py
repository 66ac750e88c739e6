"""Bad input is a 4xx in the envelope naming what is wrong, and writes nothing (issue 8)."""

import pytest
from registration_service.adapters.models import ProgramRow, RegistrationTypeRow
from registration_testkit import ADMIN, bearer
from sqlalchemy import func, select

STUDENT = bearer(42)
PROGRAM = {"name": "Splash", "grade_min": 7, "grade_max": 12}
OPENS = "registration_opens_at"
SLOT = {"start": "2026-12-05T09:00:00+00:00", "end": "2026-12-05T10:00:00+00:00"}


@pytest.fixture
def program(client) -> int:
    return client.post("/v1/programs", json=PROGRAM, headers=ADMIN).json["id"]


@pytest.fixture
def timeslot(client, program) -> int:
    return client.post(f"/v1/programs/{program}/timeslots", json=SLOT, headers=ADMIN).json["id"]


def write_endpoints(program: int) -> list[tuple[str, dict]]:
    """Every write endpoint with a valid body, as the admin would send it."""
    section = {"capacity": 5, "timeslot_ids": [1]}
    request = {"student_id": 42, "action": "enroll", "section_id": 1}
    return [
        ("/v1/programs", PROGRAM),
        (f"/v1/programs/{program}/timeslots", SLOT),
        (f"/v1/programs/{program}/classes", {**PROGRAM, "title": "T", "sections": [section]}),
        (f"/v1/programs/{program}/registration-requests", request),
    ]


def count(sessions, row) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(row))


@pytest.mark.parametrize("index", range(4))
@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("application/x-www-form-urlencoded", "a=1", 415, "unsupported_media_type"),
        ("text/plain", '{"name": "x"}', 415, "unsupported_media_type"),
        ("application/json", "", 400, "malformed_body"),
        ("application/json", "[" * 1000 + "]" * 1000, 400, "malformed_body"),  # finding 3
        ("application/json", '{"a": ' * 999 + "1" + "}" * 999, 400, "malformed_body"),
    ],
)
def test_every_write_endpoint_refuses_a_body_that_is_not_a_json_document(
    client, program, sessions, index, content_type, data, status, code
):
    path, _ = write_endpoints(program)[index]
    programs = count(sessions, ProgramRow)
    response = client.post(path, data=data, headers=ADMIN | {"Content-Type": content_type})
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["fields"].keys() == {"body"}
    assert count(sessions, ProgramRow) == programs


def test_a_body_over_the_size_limit_is_a_413(client):
    big = '{"name": "' + "x" * 2_000_000 + '"}'
    headers = ADMIN | {"Content-Type": "application/json"}
    response = client.post("/v1/programs", data=big, headers=headers)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PROGRAM, "student_capacity": 2**63}, "student_capacity"),
        ({**PROGRAM, "priority_limit": 2**63}, "priority_limit"),
        ({**PROGRAM, "grade_min": 7.5}, "grade_min"),  # finding 6: never truncated
        ({**PROGRAM, "grade_min": "7"}, "grade_min"),
        ({**PROGRAM, "grade_min": True}, "grade_min"),
        ({**PROGRAM, "name": "Splash\ud800x"}, "name"),  # finding 4
        ({**PROGRAM, "name": "x" * 201}, "name"),
        ({**PROGRAM, OPENS: "9999-12-31T23:59:59-23:59"}, OPENS),  # finding 5
        ({**PROGRAM, OPENS: "1999-12-31T23:59:59+00:00"}, OPENS),
        ({**PROGRAM, "grade_min": 9, "grade_max": 8}, "grade_max"),
        ({**PROGRAM, "\ud800": 1}, "\\ud800"),
    ],
)
def test_program_fields_out_of_bounds_are_named(client, sessions, body, field):
    response = client.post("/v1/programs", json=body, headers=ADMIN)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert count(sessions, ProgramRow) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "0001-01-01T00:00:00+23:59", "end": SLOT["end"]}, "start"),  # finding 5
        ({"start": SLOT["start"], "end": "2101-01-01T00:00:00+00:00"}, "end"),
        ({"start": SLOT["start"], "end": "2026-12-05T10:00:00"}, "end"),  # no time zone
    ],
)
def test_timeslot_datetimes_are_bounded(client, program, body, field):
    response = client.post(f"/v1/programs/{program}/timeslots", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"capacity": 5, "timeslot_ids": [2**63]}, "sections.0.timeslot_ids.0"),
        ({"capacity": 5, "timeslot_ids": [1.5]}, "sections.0.timeslot_ids.0"),
        ({"capacity": 2**63, "timeslot_ids": [1]}, "sections.0.capacity"),
        ({"capacity": -1, "timeslot_ids": [1]}, "sections.0.capacity"),
    ],
)
def test_class_fields_out_of_bounds_are_named(client, program, timeslot, section, field):
    body = {**PROGRAM, "title": "Rockets", "sections": [section]}
    response = client.post(f"/v1/programs/{program}/classes", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_a_class_title_must_be_valid_unicode(client, program, timeslot):
    section = {"capacity": 5, "timeslot_ids": [timeslot]}
    body = {**PROGRAM, "title": "\ud800x", "sections": [section]}
    response = client.post(f"/v1/programs/{program}/classes", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.json["error"]["fields"].keys() == {"title"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"student_id": 7.5}, "student_id"),
        ({"student_id": 2**63}, "student_id"),
        ({"section_id": 2**63}, "section_id"),
        ({"section_id": 0}, "section_id"),
    ],
)
def test_request_ids_are_strict_and_bounded(client, program, change, field):
    body = {"student_id": 42, "action": "enroll", "section_id": 1} | change
    path = f"/v1/programs/{program}/registration-requests"
    response = client.post(path, json=body, headers=ADMIN)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/programs/9223372036854775808", "program_id"),
        ("/v1/programs/0/catalog", "program_id"),
        ("/v1/sections/99999999999999999999/students", "section_id"),
        ("/v1/programs/1/students/9223372036854775808/sections", "student_id"),
    ],
)
def test_path_ids_out_of_bounds_are_a_422_naming_the_parameter(client, path, name):
    response = client.get(path, headers=ADMIN)
    assert response.status_code == 422
    assert response.json["error"]["fields"].keys() == {name}


def test_a_student_reaches_the_bound_check_only_on_their_own_paths(client):
    own = client.get("/v1/programs/9223372036854775808/students/42/sections", headers=STUDENT)
    other = client.get("/v1/programs/1/students/9223372036854775808/sections", headers=STUDENT)
    assert (own.status_code, other.status_code) == (422, 403)


def test_timeslot_ids_in_the_query_must_be_ids(client, program):
    path = f"/v1/programs/{program}/students/42/priority"
    for value in ("admin", "1,,2", "9223372036854775808", "1.5"):
        response = client.get(path, query_string={"timeslot_ids": value}, headers=STUDENT)
        assert response.status_code == 422, value
        assert "timeslot_ids" in response.json["error"]["fields"]


def test_a_student_cannot_create_registration_types(client, sessions):
    before = count(sessions, RegistrationTypeRow)
    query = {"category": "admin", "include": "StudentMade,Other"}
    response = client.get("/v1/registration-types", query_string=query, headers=STUDENT)
    assert response.status_code == 403
    assert "StudentMade" in response.json["error"]["message"]
    assert count(sessions, RegistrationTypeRow) == before
    existing = {"category": "student", "include": "Enrolled"}
    response = client.get("/v1/registration-types", query_string=existing, headers=STUDENT)
    assert response.status_code == 200 and set(response.json) == {"Enrolled"}
    response = client.get("/v1/registration-types", query_string=query, headers=ADMIN)
    assert response.status_code == 200 and set(response.json) == {"StudentMade", "Other"}


def test_include_is_capped(client):
    names = ",".join(f"T{i}" for i in range(21))
    query = {"category": "admin", "include": names}
    response = client.get("/v1/registration-types", query_string=query, headers=ADMIN)
    assert response.status_code == 422


@pytest.mark.parametrize("index", range(3))
def test_authorization_comes_before_validation(client, program, index):
    path, _ = write_endpoints(program)[index]
    response = client.post(path, json={"nonsense": 1}, headers=STUDENT)
    assert response.status_code == 403
    response = client.post(path, data="not json", headers=STUDENT)
    assert response.status_code == 403


def test_a_student_request_for_another_student_is_403_even_when_invalid(client, program):
    path = f"/v1/programs/{program}/registration-requests"
    response = client.post(path, json={"student_id": 43, "action": "fly"}, headers=STUDENT)
    assert response.status_code == 403


def test_unknown_request_ids_answer_a_snake_case_code(client):
    response = client.get(f"/v1/registration-requests/{'f' * 32}", headers=ADMIN)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "registration_request_not_found"


def test_a_405_lists_the_allowed_methods(client):
    response = client.delete("/v1/programs", headers=ADMIN)
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_the_spec_states_what_the_server_enforces(client):
    spec = client.get("/openapi.json").json
    paths = spec["paths"]
    query = {
        p["name"]: p["schema"]
        for p in paths["/v1/programs/{program_id}/students/{student_id}/priority"]["get"][
            "parameters"
        ]
    }
    assert "pattern" in query["timeslot_ids"]
    types = {p["name"]: p["schema"] for p in paths["/v1/registration-types"]["get"]["parameters"]}
    assert "pattern" in types["include"]
    assert "grade_max must be at least grade_min" in paths["/v1/programs"]["post"]["description"]
    program = spec["components"]["schemas"]["ProgramIn"]["properties"]
    assert program["student_capacity"]["maximum"] == 1_000_000
    assert program["name"]["maxLength"] == 200
    for path in paths.values():
        for parameter in path.get("parameters", []):
            if parameter["schema"].get("type") == "integer":
                assert parameter["schema"]["maximum"] == 2**31 - 1
