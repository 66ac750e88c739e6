"""GET and PUT a profile: drafts from the latest profile, validation, completion events, auth."""

import json

from profile_service.adapters.models import ProfileRow, outbox
from profile_testkit import ADMIN, bearer, complete_profile
from sqlalchemy import select

STUDENT = bearer(7)


def path(program: int, student: int = 7) -> str:
    return f"/v1/programs/{program}/students/{student}/profile"


def events(sessions) -> list[dict]:
    with sessions() as session:
        return [json.loads(body) for body in session.scalars(select(outbox.c.body))]


def test_a_first_profile_starts_blank(client, announce):
    program = announce(1)
    body = client.get(path(program), headers=STUDENT).json
    assert (body["id"], body["complete"], body["grade"]) == (None, False, None)
    assert body["first_name"] is None
    assert body["emergency_contact"] == {"name": None, "phone": None, "relation": None}
    assert body["guardian"] == {"name": None, "email": None, "phone": None}
    assert "graduation_year" in body["missing_fields"]


def test_saving_a_complete_profile_publishes_its_grade(client, announce, sessions):
    program = announce(1)
    saved = client.put(path(program), json=complete_profile(), headers=STUDENT)
    assert saved.status_code == 200
    body = saved.json
    assert body["id"] is not None and body["complete"] is True
    assert body["grade"] == 9  # graduates 2030; registration opened in school year 2026-27
    assert body["missing_fields"] == []
    assert client.get(path(program), headers=STUDENT).json == body
    [event] = events(sessions)
    assert event["event_type"] == "profile.profile.completed.v1"
    assert event["payload"] == {
        "profile_id": body["id"],
        "program_id": program,
        "student_id": 7,
        "grade": 9,
        "graduation_year": 2030,
        "school_year": 2027,
    }  # ids and the grade only: no personal data travels


def test_a_grade_is_stored_as_a_graduation_year(client, announce):
    program = announce(1)
    profile = complete_profile(graduation_year=None, grade=11)
    body = client.put(path(program), json=profile, headers=STUDENT).json
    assert (body["grade"], body["graduation_year"]) == (11, 2028)
    conflicting = complete_profile(graduation_year=2030, grade=11)
    refused = client.put(path(program), json=conflicting, headers=STUDENT)
    assert refused.status_code == 422
    assert list(refused.json["error"]["fields"]) == ["grade"]


def test_an_incomplete_profile_is_saved_but_announces_nothing(client, announce, sessions):
    program = announce(1)
    partial = {"first_name": "Ada", "email": "ada@example.org"}
    body = client.put(path(program), json=partial, headers=STUDENT).json
    assert body["id"] is not None and body["complete"] is False
    assert "phone" in body["missing_fields"] and "guardian.phone" in body["missing_fields"]
    assert body["guardian"] == {"name": None, "email": None, "phone": None}  # the contract's shape
    assert events(sessions) == []


def test_a_complete_profile_made_incomplete_is_withdrawn(client, announce, sessions):
    program = announce(1)
    client.put(path(program), json=complete_profile(), headers=STUDENT)
    body = client.put(path(program), json=complete_profile(phone=None), headers=STUDENT).json
    assert (body["complete"], body["missing_fields"]) == (False, ["phone"])
    kinds = [event["event_type"] for event in events(sessions)]
    assert kinds == ["profile.profile.completed.v1", "profile.profile.reopened.v1"]


def test_a_new_program_drafts_from_the_latest_profile_without_touching_it(
    client, announce, sessions
):
    first, second, third = announce(1), announce(2), announce(3)
    client.put(path(first), json=complete_profile(school="Old School"), headers=STUDENT)
    client.put(path(second), json=complete_profile(school="New School"), headers=STUDENT)
    draft = client.get(path(third), headers=STUDENT).json
    assert (draft["id"], draft["complete"]) == (None, False)
    assert draft["school"] == "New School"  # the latest, not the first
    assert draft["first_name"] == "Ada" and draft["guardian"]["name"] == "Annabella"
    assert "heard_about" not in draft  # asked per program, not copied
    assert draft["missing_fields"] == []  # saving it as it is would complete it

    client.put(path(third), json=complete_profile(email="new@example.org"), headers=STUDENT)
    assert client.get(path(second), headers=STUDENT).json["email"] == "ada@example.org"
    with sessions() as session:
        assert len(session.scalars(select(ProfileRow)).all()) == 3  # no shared rows


def test_bad_fields_are_named_and_nothing_is_saved(client, announce, sessions):
    program = announce(1)
    bad = complete_profile(
        email="not-an-email",
        phone="call me",
        emergency_contact={"name": "Anne", "relation": "aunt"},
        guardian={"name": "Annabella", "email": "nope"},
        shirt_size="huge",
        date_of_birth="10/12/2012",
        favourite_colour="green",
    )
    refused = client.put(path(program), json=bad, headers=STUDENT)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "validation_error"
    assert sorted(refused.json["error"]["fields"]) == [
        "date_of_birth",
        "email",
        "emergency_contact.phone",
        "favourite_colour",
        "guardian.email",
        "phone",
        "shirt_size",
    ]
    assert "not-an-email" not in refused.get_data(as_text=True)  # errors never echo the data
    with sessions() as session:
        assert session.scalars(select(ProfileRow)).all() == []
    assert events(sessions) == []


def test_an_unknown_program_is_404(client, announce):
    announce(1)
    response = client.get(path(99), headers=STUDENT)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "program_not_found"
    assert client.put(path(99), json=complete_profile(), headers=STUDENT).status_code == 404


def test_students_reach_only_their_own_profile_and_admins_any(client, announce):
    program = announce(1)
    client.put(path(program), json=complete_profile(), headers=STUDENT)
    other = bearer(8)
    assert client.get(path(program), headers=other).status_code == 403
    assert client.put(path(program), json=complete_profile(), headers=other).status_code == 403
    assert client.get(path(program), headers=ADMIN).json["first_name"] == "Ada"
    assert client.get(path(program)).status_code == 401


def test_profiles_never_reach_the_logs(client, announce, caplog):
    program = announce(1)
    with caplog.at_level("DEBUG"):
        client.put(path(program), json=complete_profile(), headers=STUDENT)
        client.put(path(program), json=complete_profile(email="not-an-address"), headers=STUDENT)
        client.get(path(program), headers=STUDENT)
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for personal in (
        "Ada",
        "Lovelace",
        "ada@example.org",
        "555-0100",
        "Annabella",
        "not-an-address",
    ):
        assert personal not in logged


def test_a_body_that_is_not_a_profile_is_refused_by_name(client, announce):
    program = announce(1)
    garbled = client.put(
        path(program), data="{not json", content_type="application/json", headers=STUDENT
    )
    assert garbled.status_code == 400
    assert garbled.json["error"]["code"] == "malformed_body"
    assert list(garbled.json["error"]["fields"]) == ["body"]
    listed = client.put(path(program), json=[1, 2], headers=STUDENT)
    assert (listed.status_code, list(listed.json["error"]["fields"])) == (422, ["body"])
    nested = client.put(path(program), json={"guardian": "my mum"}, headers=STUDENT)
    assert (nested.status_code, list(nested.json["error"]["fields"])) == (422, ["guardian"])
