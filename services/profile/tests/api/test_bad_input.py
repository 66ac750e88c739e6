"""A saved profile survives every refused write (issue 8, findings 1, 2, 4, 6 and 8)."""

import json

import pytest
from profile_service.adapters.models import outbox
from profile_testkit import ADMIN, bearer, complete_profile
from sqlalchemy import func, select

STUDENT = bearer(42)
PATH = "/v1/programs/1/students/42/profile"


@pytest.fixture
def saved(client, announce, sessions) -> dict:
    announce(1)
    response = client.put(PATH, json=complete_profile(), headers=STUDENT)
    assert response.status_code == 200 and response.json["complete"]
    return response.json


def outbox_rows(sessions) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(outbox))


BODY = json.dumps(complete_profile())


@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("application/x-www-form-urlencoded", BODY, 415, "unsupported_media_type"),  # curl -d
        ("text/plain", BODY, 415, "unsupported_media_type"),
        (None, BODY, 415, "unsupported_media_type"),
        ("application/json", "", 400, "malformed_body"),
        ("application/json", "   ", 400, "malformed_body"),
        ("application/json", "{not json", 400, "malformed_body"),
        ("application/json", "[" * 1000 + "]" * 1000, 400, "malformed_body"),
        ("application/json", b'{"first_name": "\xff"}', 400, "malformed_body"),
    ],
)
def test_a_body_that_is_not_json_is_refused_and_the_profile_survives(
    client, saved, sessions, content_type, data, status, code
):
    events_before = outbox_rows(sessions)
    headers = STUDENT | ({"Content-Type": content_type} if content_type else {})
    response = client.put(PATH, data=data, headers=headers)
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert "body" in response.json["error"]["fields"]
    assert client.get(PATH, headers=STUDENT).json == saved
    assert outbox_rows(sessions) == events_before  # no "reopened" event


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"first_name": "Ada\ud800"}, "first_name"),
        ({"guardian": {"name": "\udfffx"}}, "guardian.name"),
        ({"graduation_year": 2030.5}, "graduation_year"),
        ({"graduation_year": 2**63}, "graduation_year"),
        ({"graduation_year": "2030"}, "graduation_year"),
        ({"grade": 7.5, "graduation_year": None}, "grade"),
        ({"date_of_birth": "0001-01-01"}, "date_of_birth"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_invalid_fields_are_named_and_nothing_is_saved(client, saved, change, field):
    response = client.put(PATH, json=complete_profile(**change), headers=STUDENT)
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert client.get(PATH, headers=STUDENT).json == saved


def test_ids_beyond_64_bits_are_a_422_naming_the_parameter(client, saved):
    response = client.get("/v1/programs/9223372036854775808/students/42/profile", headers=STUDENT)
    assert response.status_code == 422
    assert set(response.json["error"]["fields"]) == {"program_id"}


def test_another_students_invalid_body_is_refused_before_it_is_read(client, saved):
    response = client.put("/v1/programs/1/students/43/profile", data="not json", headers=STUDENT)
    assert response.status_code == 403


def test_an_admin_may_still_save_for_the_student(client, saved):
    response = client.put(PATH, json=complete_profile(first_name="Augusta"), headers=ADMIN)
    assert response.status_code == 200 and response.json["first_name"] == "Augusta"
