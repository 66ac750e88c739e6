"""What the web promises without a service behind it: security headers on every page, CSRF on
every form that changes something, no token in a page, the organiser's CSV checked whole before
anything is saved, program states, and the board's figures read from /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from web_service.live import parse_board
from web_service.pages.admin import parse_classes_csv
from web_service.pages.student import program_state

HEADER = "title,grade_min,grade_max,capacity,timeslot_ids\n"


def test_pages_carry_a_strict_policy_and_the_usual_headers(client):
    answer = client.get("/signin")
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")  # cookie_secure
    html = answer.get_data(as_text=True)
    assert '<label for="f-email">Email</label>' in html
    assert '<label for="f-password">Password</label>' in html
    assert "<script>" not in html and " on" + "click=" not in html  # no inline script


def test_every_answer_says_where_its_time_went(client):
    """Server-Timing: the session read, each service called, and the whole (the browser's
    developer tools show it; bench/pages.py reads it)."""
    parts = client.get("/signin").headers["Server-Timing"].split(", ")
    names = [part.split(";dur=")[0] for part in parts]
    assert names == ["session", "app"]
    assert all(float(part.split(";dur=")[1]) >= 0 for part in parts)


def test_a_form_without_its_csrf_token_is_refused(client):
    for path in ("/signin", "/signup", "/signout", "/programs/1/requests"):
        refused = client.post(path, data={"email": "a@example.org", "password": "x"})
        assert refused.status_code == 400, path


def test_flasks_own_cookie_is_http_only_same_site_and_secure(client):
    answer = client.get("/signin")  # the CSRF secret goes in Flask's session cookie
    cookie = answer.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_a_csv_is_checked_whole_and_every_bad_row_named():
    text = HEADER + "Knots,7,12,5,1\nOrigami,9,7,0,3\n,7,8,x,1 2\nKnots,7,12,5,2\n"
    classes, errors = parse_classes_csv(text, {1, 2}, (7, 12))
    assert classes == []  # one bad row: nothing to save
    assert set(errors) == {"row 3", "row 4"}
    assert any("grade_max" in p for p in errors["row 3"])
    assert any("capacity: at least 1" in p for p in errors["row 3"])
    assert any("timeslot_ids" in p for p in errors["row 3"])
    assert any("title" in p for p in errors["row 4"]) and any(
        "capacity" in p for p in errors["row 4"]
    )
    good, none = parse_classes_csv(
        HEADER + "Knots,7,12,5,1\nKnots,7,12,6,2\nOrigami,7,9,3,1 2\n", {1, 2}, (7, 12)
    )
    assert none == {}
    assert good == [
        {
            "title": "Knots",
            "grade_min": 7,
            "grade_max": 12,
            "sections": [
                {"capacity": 5, "timeslot_ids": [1]},
                {"capacity": 6, "timeslot_ids": [2]},
            ],
        },
        {
            "title": "Origami",
            "grade_min": 7,
            "grade_max": 9,
            "sections": [{"capacity": 3, "timeslot_ids": [1, 2]}],
        },
    ]
    _, missing = parse_classes_csv("title,capacity\nKnots,5\n", {1}, (7, 12))
    assert "grade_min" in missing["file"][0]
    _, outside = parse_classes_csv(HEADER + "Knots,5,12,5,1\n", {1}, (7, 12))
    assert "within the program" in outside["row 2"][0]


def test_a_program_is_not_open_yet_open_closed_or_in_its_lottery_phase():
    now = datetime(2026, 12, 5, 10, tzinfo=UTC)
    later, earlier = (now + timedelta(hours=1)).isoformat(), (now - timedelta(hours=1)).isoformat()
    assert program_state({"registration_opens_at": later}, now) == "not_open"
    assert program_state({"registration_opens_at": later, "use_priority": True}, now) == "lottery"
    assert program_state({"registration_opens_at": earlier}, now) == "open"
    assert program_state({"registration_closes_at": earlier}, now) == "closed"
    assert program_state({}, now) == "open"


def test_the_board_reads_queues_decisions_and_rejections_from_metrics():
    text = "\n".join(
        [
            "# TYPE registration_queue_depth gauge",
            'registration_queue_depth{partition="1"} 3.0',
            'registration_queue_depth{partition="0"} 0.0',
            "# TYPE registration_queue_oldest_age_seconds gauge",
            'registration_queue_oldest_age_seconds{partition="1"} 1.25',
            "# TYPE registration_decisions counter",
            'registration_decisions_total{outcome="accepted",reason=""} 7.0',
            'registration_decisions_total{outcome="rejected",reason="section_full"} 2.0',
            'registration_decisions_total{outcome="rejected",reason="time_conflict"} 1.0',
        ]
    )
    board = parse_board(text + "\n")
    assert board["decided_total"] == 10
    assert board["queues"] == [
        {"partition": "0", "depth": 0.0, "oldest_s": 0.0},
        {"partition": "1", "depth": 3.0, "oldest_s": 1.2},
    ]
    assert board["rejections"] == {"section_full": 2.0, "time_conflict": 1.0}
