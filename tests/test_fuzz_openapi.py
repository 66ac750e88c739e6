"""schemathesis against each service's generated OpenAPI document, in process (issue 8).

Every check is on, with a fixed seed, about 1,000 cases per role and 2,000 per service: valid
and invalid bodies, queries, path ids and headers, sent with an admin token and with a student
token. No answer may be a 5xx, every status must be one the operation documents, every body
must match its documented schema (errors: the envelope), a request the spec refuses must be
refused, and one it allows must not be refused by a rule the spec does not state.

Left out: the outcome stream (Server-Sent Events never end, so no case could finish; its
access and errors are covered by the authorization matrix and its own tests).
"""

from __future__ import annotations

import atexit
import math
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from devstack.ports import free_port
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from hypothesis import HealthCheck, settings
from lottery_service.use_cases.read_models import handle_event as handle_lottery_event
from profile_service.events import PROGRAM_CREATED
from profile_service.use_cases.programs import handle_catalog_event
from service_apps import SERVICES, make_app
from servicekit.events import Event
from servicekit.flask_db import EXTENSION as SESSIONS

pytestmark = pytest.mark.slow

CASES_PER_ROLE = 1_000
SEED = 20261129
TOKENS = {
    "admin": issue_token("admin", "admin", 7200),
    "student": issue_token(1, "student", 7200),
}
STREAMING = "GET /v1/students/{student_id}/outcomes"

# Operations whose rules reach beyond what OpenAPI can say (each is named in the operation's
# description): a body the spec allows may still be refused with a 422 naming the field.
CROSS_FIELD_RULES = {
    "POST /v1/programs": "grade_max >= grade_min; registration_closes_at > registration_opens_at",
    "PATCH /v1/programs/{program_id}": (
        "grade_max >= grade_min; registration_closes_at > registration_opens_at, with the"
        " values not given"
    ),
    "PATCH /v1/sections/{section_id}": "capacity, status or both",
    "POST /v1/programs/{program_id}/timeslots": "end > start",
    "POST /v1/programs/{program_id}/classes": "grade_max >= grade_min; timeslots of the program",
    "POST /v1/programs/{program_id}/schedule-constraints": (
        "expressions nested as the grammar says; timeslots, classes and sections of the program"
    ),
    "POST /v1/programs/{program_id}/lunch": "timeslots of the program",
    "POST /v1/programs/{program_id}/registration-requests": (
        "from_section_id only with switch; waitlist only with enroll; sections of the program"
    ),
    "GET /v1/registration-types": "include needs a category",
    "PUT /v1/programs/{program_id}/students/{student_id}/profile": (
        "an emergency contact needs a phone; grade and graduation_year agree"
    ),
    "POST /v1/programs/{program_id}/students/{student_id}/stars": (
        "a class of the program, within the student's grade"
    ),
    "PUT /v1/programs/{program_id}/students/{student_id}/priorities": (
        "timeslots of the program; classes starting there, within the grade, priority_limit"
    ),
    "PUT /v1/programs/{program_id}/preferences": (
        "classes and timeslots of the program, within each student's grade; ranks without gaps"
    ),
    "POST /v1/accounts": (
        "an email address; a password of 10 or more characters, not a common one, not holding"
        " the address; a display name that is not blank"
    ),
    "POST /v1/accounts/verify": "the token of an emailed link, unused and unexpired",
    "POST /v1/password-resets/confirm": (
        "the token of an emailed link, unused and unexpired; a strong password"
    ),
}
ACCEPTED = ["2xx", "401", "403", "404", "409"]
# Answers a valid request may get for reasons outside the request (named in the description).
BEYOND_THE_REQUEST = {
    "POST /v1/sessions": ["429"],  # failed sign-ins are limited per account and address
}


def _config(token: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "auth": {"openapi": {"bearerAuth": {"bearer": token}}},
            "generation": {
                "mode": "all",
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": ACCEPTED},
            },
            "operations": [
                {
                    "include-name": name,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                *ACCEPTED,
                                *(["422"] if name in CROSS_FIELD_RULES else []),
                                *BEYOND_THE_REQUEST.get(name, []),
                            ]
                        }
                    },
                }
                for name in sorted({*CROSS_FIELD_RULES, *BEYOND_THE_REQUEST})
            ],
            "phases": {"stateful": {"enabled": False}},
        }
    )


def lottery_catalog() -> list[Event]:
    program = {"id": 1, "name": "Splash", "grade_min": 7, "grade_max": 12}
    program |= {"student_capacity": None, "priority_limit": 3}
    slot = {"id": 1, "program_id": 1, "start": "2026-12-05T09:00:00Z"}
    slot["end"] = "2026-12-05T10:00:00Z"
    section = {"id": 1, "capacity": 5, "timeslot_ids": [1]}
    knots = {"id": 1, "program_id": 1, "title": "Knots", "grade_min": 7, "grade_max": 12}
    grade = {"program_id": 1, "student_id": 1, "grade": 9}
    return [
        Event("registration.program.created.v1", "registration", program),
        Event("registration.timeslot.created.v1", "registration", slot),
        Event("registration.class.created.v1", "registration", knots | {"sections": [section]}),
        Event("profile.profile.completed.v1", "profile", grade),
    ]


def _seed(service: str, app) -> None:
    """A little data, so valid cases reach past the 404s: program 1 with a timeslot and a
    class (registration), program 1 announced (profile), and the same known to the lottery."""
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    client = app.test_client()
    if service == "registration":
        program = {"name": "Splash", "grade_min": 7, "grade_max": 12}
        assert client.post("/v1/programs", json=program, headers=admin).status_code == 201
        slot = {"start": "2026-12-05T09:00:00Z", "end": "2026-12-05T10:00:00Z"}
        client.post("/v1/programs/1/timeslots", json=slot, headers=admin)
        section = {"capacity": 5, "timeslot_ids": [1]}
        body = {"title": "Knots", "grade_min": 7, "grade_max": 12, "sections": [section]}
        assert client.post("/v1/programs/1/classes", json=body, headers=admin).status_code == 201
    if service == "profile":
        with app.extensions[SESSIONS]() as session, session.begin():
            payload = {"id": 1, "name": "Splash", "registration_opens_at": None}
            handle_catalog_event(session, Event(PROGRAM_CREATED, "registration", payload))
    if service == "lottery":  # program 1 with a class in timeslot 1, student 1 in grade 9
        with app.extensions[SESSIONS]() as session, session.begin():
            for event in lottery_catalog():
                handle_lottery_event(session, event)


# The apps are made at collection, when schemathesis reads their documents; the Redis they
# name is started on that port by the ``redis`` fixture before any case is sent.
REDIS_PORT = free_port()
WORK = Path(tempfile.mkdtemp(prefix="fuzz-openapi-"))
atexit.register(shutil.rmtree, WORK, True)  # also when the fuzz is deselected (make test-fast)
APPS = {
    service: make_app(service, WORK, f"redis://127.0.0.1:{REDIS_PORT}/0") for service in SERVICES
}


def _schema(service: str, role: str):
    schema = schemathesis.openapi.from_wsgi(
        "/openapi.json", APPS[service], config=_config(TOKENS[role])
    )
    schema = schema.exclude(name=STREAMING)
    operations = [result.ok() for result in schema.get_all_operations()]
    schema.config.generation.update(max_examples=math.ceil(CASES_PER_ROLE / len(operations)))
    return schema


FUZZED = [
    service for service, app in APPS.items() if app.test_client().get("/openapi.json").json["paths"]
]
CASES: Counter[str] = Counter()  # cases sent, by service title
SCHEMAS = {(service, role): _schema(service, role) for service in FUZZED for role in TOKENS}


@pytest.fixture(scope="module", autouse=True)
def redis():
    server = RedisServer(WORK / "redis", port=REDIS_PORT).start()
    for service in FUZZED:
        _seed(service, APPS[service])
    yield server
    APPS["registration"].extensions["registration.fanout"].stop()
    server.stop()


@pytest.mark.timeout(240)
@schemathesis.pytest.parametrize(
    **{f"{service}-{role}": schema for (service, role), schema in SCHEMAS.items()}
)
@settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_answer_is_documented_and_no_input_crashes_a_service(case):
    CASES[case.operation.schema.raw_schema["info"]["title"]] += 1
    case.call_and_validate()


def test_each_service_got_its_share_of_cases():
    """Runs after the fuzz (file order); a partial run (``-k``) proves nothing, so it skips."""
    if sum(CASES.values()) == 0:
        pytest.skip("the fuzz test did not run")
    titles = {APPS[s].config["API_TITLE"]: s for s in FUZZED}
    print(f"fuzz cases sent per service: {dict(CASES)}")  # shown with pytest -s
    assert {titles[t]: n >= 2 * CASES_PER_ROLE for t, n in CASES.items()} == dict.fromkeys(
        FUZZED, True
    ), f"cases per service: {dict(CASES)}"
