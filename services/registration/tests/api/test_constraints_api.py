"""Schedule constraints and lunch over HTTP (admin only)."""

from registration_testkit import ADMIN, bearer


def program_with_slots(client, hours=3):
    pid = client.post(
        "/v1/programs", json={"name": "Splash", "grade_min": 7, "grade_max": 12}, headers=ADMIN
    ).json["id"]
    slots = []
    for hour in range(9, 9 + hours):
        slot = {"start": f"2026-12-05T{hour:02}:00:00Z", "end": f"2026-12-05T{hour:02}:50:00Z"}
        slots.append(client.post(f"/v1/programs/{pid}/timeslots", json=slot, headers=ADMIN))
    return pid, [s.json["id"] for s in slots]


def test_add_list_and_delete(client):
    pid, (nine, ten, _) = program_with_slots(client)
    url = f"/v1/programs/{pid}/schedule-constraints"
    body = {"label": "Rest at ten", "condition": {"occupied": nine}}
    body["requirement"] = {"not": {"occupied": ten}}
    created = client.post(url, json=body, headers=ADMIN)
    assert created.status_code == 201, created.json
    assert created.json == {"id": created.json["id"], **body}
    unconditional = {"label": "Anything", "requirement": {"all": []}}
    always = client.post(url, json=unconditional, headers=ADMIN)
    assert always.status_code == 201 and always.json["condition"] is None
    listed = client.get(url, headers=ADMIN)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json["constraints"]] == [created.json["id"], always.json["id"]]
    gone = client.delete(f"{url}/{created.json['id']}", headers=ADMIN)
    assert gone.status_code == 204 and gone.data == b""
    again = client.delete(f"{url}/{created.json['id']}", headers=ADMIN)
    assert again.status_code == 404
    assert again.json["error"]["code"] == "schedule_constraint_not_found"
    assert [c["id"] for c in client.get(url, headers=ADMIN).json["constraints"]] == [
        always.json["id"]
    ]


def test_a_malformed_expression_is_a_422_naming_its_path(client):
    pid, (nine, *_) = program_with_slots(client)
    body = {"label": "Lunch", "condition": None}
    body["requirement"] = {"all": [{"occupied": nine}, {"occupied": "x"}]}
    refused = client.post(f"/v1/programs/{pid}/schedule-constraints", json=body, headers=ADMIN)
    assert refused.status_code == 422
    assert list(refused.json["error"]["fields"]) == ["requirement.all.1.occupied"]
    body["requirement"] = {"all": [{"occupied": nine}, {"occupied": 99999}]}
    foreign = client.post(f"/v1/programs/{pid}/schedule-constraints", json=body, headers=ADMIN)
    assert foreign.status_code == 422
    assert foreign.json["error"]["fields"] == {
        "requirement.all.1.occupied": [f"Timeslot 99999 is not in program {pid}."]
    }
    for bad in ({"occupied": 1, "in_class": 2}, {"eval": "1"}, [], "x"):
        body["requirement"] = bad
        answer = client.post(f"/v1/programs/{pid}/schedule-constraints", json=body, headers=ADMIN)
        assert answer.status_code == 422 and "requirement" in answer.json["error"]["fields"]
    assert client.get(f"/v1/programs/{pid}/schedule-constraints", headers=ADMIN).json == {
        "constraints": []
    }


def test_only_admins_and_known_programs(client):
    pid, _ = program_with_slots(client)
    url = f"/v1/programs/{pid}/schedule-constraints"
    body = {"label": "Anything", "requirement": {"all": []}}
    assert client.post(url, json=body, headers=bearer(5)).status_code == 403
    assert client.get(url, headers=bearer(5)).status_code == 403
    assert client.delete(f"{url}/1", headers=bearer(5)).status_code == 403
    assert client.post(url, json=body).status_code == 401
    missing = "/v1/programs/999/schedule-constraints"
    assert client.post(missing, json=body, headers=ADMIN).status_code == 404
    assert client.get(missing, headers=ADMIN).status_code == 404
    other, _ = program_with_slots(client, hours=1)
    created = client.post(url, json=body, headers=ADMIN).json["id"]
    elsewhere = f"/v1/programs/{other}/schedule-constraints/{created}"
    assert client.delete(elsewhere, headers=ADMIN).status_code == 404


def test_lunch(client):
    pid, (nine, ten, eleven) = program_with_slots(client)
    added = client.post(f"/v1/programs/{pid}/lunch", json={"timeslot_ids": [ten]}, headers=ADMIN)
    assert added.status_code == 201, added.json
    (lunch,) = added.json["classes"]
    assert lunch["title"] == "Lunch" and [s["timeslot_ids"] for s in lunch["sections"]] == [[ten]]
    (rule,) = added.json["constraints"]
    assert rule["label"] == "Take a lunch period"
    assert rule["requirement"] == {"in_sections": [lunch["sections"][0]["id"]]}
    assert rule["condition"] == {
        "all": [{"any": [{"occupied": nine}]}, {"any": [{"occupied": eleven}]}]
    }
    assert client.post(
        f"/v1/programs/{pid}/lunch", json={"timeslot_ids": [99999]}, headers=ADMIN
    ).json["error"]["fields"] == {
        "timeslot_ids.0": [f"Timeslot 99999 does not exist in program {pid}."]
    }
    denied = client.post(
        f"/v1/programs/{pid}/lunch", json={"timeslot_ids": [ten]}, headers=bearer(5)
    )
    assert denied.status_code == 403
