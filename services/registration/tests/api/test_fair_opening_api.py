"""Organiser rules over HTTP: the program fields, the waiting room's 202 and the opening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from registration_testkit import ADMIN, bearer

OPENS = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
PROGRAM = {"name": "Splash", "grade_min": 7, "grade_max": 12}
SLOT = {"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T10:50:00Z"}


def test_the_window_needs_an_opening_time_on_create_and_on_patch(client):
    refused = client.post(
        "/v1/programs", json=PROGRAM | {"opening_window_seconds": 60}, headers=ADMIN
    )
    assert refused.status_code == 422
    assert "opening_window_seconds" in str(refused.json)
    made = client.post(
        "/v1/programs",
        json=PROGRAM | {"opening_window_seconds": 60, "registration_opens_at": OPENS.isoformat()},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.json
    assert made.json["opening_window_seconds"] == 60
    assert made.json["waitlist_limit_per_timeslot"] == 1
    pid = made.json["id"]
    cleared = client.patch(
        f"/v1/programs/{pid}", json={"registration_opens_at": None}, headers=ADMIN
    )
    assert cleared.status_code == 422 and "opening_window_seconds" in str(cleared.json)
    for bad in ({"waitlist_limit_per_timeslot": 0}, {"opening_window_seconds": 0}):
        assert client.patch(f"/v1/programs/{pid}", json=bad, headers=ADMIN).status_code == 422
    changed = client.patch(
        f"/v1/programs/{pid}", json={"waitlist_limit_per_timeslot": 3}, headers=ADMIN
    )
    assert changed.status_code == 200 and changed.json["waitlist_limit_per_timeslot"] == 3


def test_a_request_in_the_window_waits_and_the_opening_is_admin_only(client):
    made = client.post(
        "/v1/programs",
        json=PROGRAM | {"opening_window_seconds": 3600, "registration_opens_at": OPENS.isoformat()},
        headers=ADMIN,
    )
    pid = made.json["id"]
    slot = client.post(f"/v1/programs/{pid}/timeslots", json=SLOT, headers=ADMIN).json["id"]
    section = client.post(
        f"/v1/programs/{pid}/classes",
        json={
            "title": "Knots",
            "grade_min": 7,
            "grade_max": 12,
            "sections": [{"capacity": 5, "timeslot_ids": [slot]}],
        },
        headers=ADMIN,
    ).json["sections"][0]["id"]
    sent = client.post(
        f"/v1/programs/{pid}/registration-requests",
        json={"student_id": 4, "action": "enroll", "section_id": section},
        headers=bearer(4),
    )
    assert sent.status_code == 202 and sent.json["status"] == "waiting"
    read = client.get(f"/v1/registration-requests/{sent.json['id']}", headers=bearer(4))
    assert read.json["status"] == "waiting"
    assert client.get(f"/v1/programs/{pid}/opening", headers=bearer(4)).status_code == 403
    drawn = client.get(f"/v1/programs/{pid}/opening", headers=ADMIN)
    assert drawn.status_code == 200
    room = {
        "releases_at": (OPENS + timedelta(seconds=3600)).isoformat(),
        "released_at": None,
        "waiting_students": 1,
        "waiting_requests": 1,
    }
    assert drawn.json == room | {"seed": None, "student_order": []}
    assert client.get("/v1/programs/999/opening", headers=ADMIN).status_code == 404
    # The student's page reads the room without the draw.
    seen = client.get(f"/v1/programs/{pid}/waiting-room", headers=bearer(4))
    assert seen.status_code == 200 and seen.json == room
    assert client.get("/v1/programs/999/waiting-room", headers=bearer(4)).status_code == 404
