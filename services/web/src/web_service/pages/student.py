"""The student's pages: programs, the profile, the catalog (add, drop, switch, waitlist, with
live answers), the schedule as a timetable, and the lottery's stars and priorities."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from web_service.holdings import Holdings
from web_service.pages.catalog_cards import CatalogCards
from web_service.pages.common import caller, expect, field_errors, shared, signed_in
from web_service.pages.gzipped import gzip_member, stored

blp = Blueprint("student", __name__)

PROFILE_FIELDS = ("grade", "first_name", "last_name", "email", "phone")
CONTACT_FIELDS = {
    "emergency_contact": ("name", "phone", "relation"),
    "guardian": ("name", "email", "phone"),
}


def program_state(program: dict[str, Any], now: datetime | None = None) -> str:
    """not_open, lottery, open or closed, as the program list and its page say it."""
    now = now or datetime.now(UTC)
    opens = program.get("registration_opens_at")
    closes = program.get("registration_closes_at")
    if closes and now > datetime.fromisoformat(closes):
        return "closed"
    if opens and now < datetime.fromisoformat(opens):
        return "lottery" if program.get("use_priority") else "not_open"
    return "lottery" if program.get("use_priority") else "open"


@blp.route("/")
def home() -> str:
    programs = expect(caller().get("registration", "/v1/programs"), 200)["programs"]
    for program in programs:
        program["state"] = program_state(program)
    return render_template("home.html", programs=programs)


def _program(program_id: int, *, as_everyone: bool = False) -> dict[str, Any]:
    """The program; ``as_everyone``: as every student sees it, from the shared reads (the
    catalog's path in the opening minute)."""
    path = f"/v1/programs/{program_id}"
    if as_everyone:
        program: dict[str, Any] = dict(shared("registration", path))
    else:
        program = expect(caller().get("registration", path), 200)
    program["state"] = program_state(program)
    return program


@blp.route("/programs/<int:program_id>")
def program(program_id: int) -> str:
    return render_template("program.html", program=_program(program_id))


def _me() -> int:
    session = caller().session
    assert session is not None
    return session.account_id


class CompleteProfiles:
    """Whose profile for which program was complete, and when we last asked, shared by the web's
    processes (in Redis, beside the sessions) and remembered by each: in the opening minute a
    student reloads the catalog every few seconds, on whichever process, and a profile once
    complete stays so (should it be reopened, registration refuses the student's requests with
    ``profile_incomplete`` until it is saved again; the catalog shows for up to ``seconds``)."""

    PREFIX = "web.profile-complete."

    def __init__(self, client: redis.Redis, seconds: float = 60.0, most: int = 100_000) -> None:
        self.client, self.seconds, self.most = client, seconds, most
        self._seen: dict[tuple[int, int], float] = {}

    def known(self, student_id: int, program_id: int) -> bool:
        seen = self._seen.get((student_id, program_id))
        if seen is not None and time.monotonic() - seen < self.seconds:
            return True
        left = self.client.pttl(f"{self.PREFIX}{program_id}.{student_id}")
        if left > 0:  # remembered by another process: as long as it has left
            self._seen[(student_id, program_id)] = time.monotonic() - self.seconds + left / 1000
        return left > 0

    def remember(self, student_id: int, program_id: int) -> None:
        if len(self._seen) >= self.most:
            self._seen.clear()  # a season's worth of students: start again
        self._seen[(student_id, program_id)] = time.monotonic()
        key = f"{self.PREFIX}{program_id}.{student_id}"
        self.client.set(key, 1, px=int(self.seconds * 1000))


def _profile_complete(program_id: int) -> bool:
    complete: CompleteProfiles = current_app.extensions["web.complete_profiles"]
    if complete.known(_me(), program_id):
        return True
    mine = expect(caller().get("profile", _profile_path(program_id)), 200)
    if mine.get("complete"):
        complete.remember(_me(), program_id)
        return True
    return False


def _profile_path(program_id: int) -> str:
    return f"/v1/programs/{program_id}/students/{_me()}/profile"


@blp.route("/programs/<int:program_id>/profile", methods=["GET", "POST"])
@signed_in
def profile(program_id: int) -> str | WerkzeugResponse:
    program = _program(program_id)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        body = _profile_body(request.form)
        answer = caller().call("profile", "PUT", _profile_path(program_id), json=body)
        if answer.status_code == 200 and answer.json().get("complete"):
            flash("Profile saved.")
            return redirect(url_for("student.catalog", program_id=program_id))
        if answer.status_code == 200:  # saved, but the catalog needs every field
            missing = answer.json().get("missing_fields", [])
            errors = {name: ["Needed before you can register."] for name in missing}
            errors[""] = ["Saved. Fill in the fields marked below to open the catalog."]
        else:
            errors = field_errors(answer)
        current = body
    else:
        current = expect(caller().get("profile", _profile_path(program_id)), 200)
    return render_template("profile.html", program=program, profile=current, errors=errors)


def _profile_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {name: form.get(name, "").strip() or None for name in PROFILE_FIELDS}
    grade = body["grade"]
    body["grade"] = int(grade) if grade and grade.isdigit() else grade
    for group, names in CONTACT_FIELDS.items():
        body[group] = {name: form.get(f"{group}.{name}", "").strip() or None for name in names}
    return body


def _catalog_data(program_id: int) -> dict[str, Any]:
    me = _me()
    catalog = shared("registration", f"/v1/programs/{program_id}/catalog")
    slots = shared("registration", f"/v1/programs/{program_id}/timeslots")
    holdings: Holdings = current_app.extensions["web.holdings"]
    held = holdings.read(program_id, me, lambda: _sections(program_id, me))
    held_rows = {row["section_id"]: dict(row) for row in held}  # kept rows stay as read
    if any(row["verb"] == "Waitlisted" for row in held):
        _waitlist_positions(program_id, held_rows)
    return {
        "catalog": catalog,
        "classes": catalog["classes"],
        "timeslots_snapshot": slots,
        "timeslots": {slot["id"]: slot for slot in slots["timeslots"]},
        "held": held_rows,
        "held_classes": {
            row["class_id"]: row["section_id"] for row in held if row["verb"] == "Enrolled"
        },
    }


def _sections(program_id: int, student_id: int) -> list[dict[str, Any]]:
    """The student's seats and waitlist places, as the registration service has them now."""
    answer = caller().get(
        "registration",
        f"/v1/programs/{program_id}/students/{student_id}/sections",
        params={"verbs": "Enrolled,Waitlisted"},
    )
    sections: list[dict[str, Any]] = expect(answer, 200)["sections"]
    return sections


def _waitlist_positions(program_id: int, held: dict[int, dict[str, Any]]) -> None:
    """Each waitlist place's position, from the request that took it (newest first)."""
    c = caller()
    mine = expect(
        c.get("registration", f"/v1/programs/{program_id}/students/{_me()}/requests"), 200
    )
    for row in mine["requests"]:
        place = held.get(row["section_id"])
        waitlisted = row["status"] == "accepted" and row.get("verb") == "Waitlisted"
        if place and place["verb"] == "Waitlisted" and "position" not in place and waitlisted:
            found = expect(c.get("registration", f"/v1/registration-requests/{row['id']}"), 200)
            place["position"] = found.get("position")


@blp.route("/programs/<int:program_id>/requests/<request_id>")
@signed_in
def request_state(program_id: int, request_id: str) -> Any:
    """A request's state for the page's script (its waitlist position once decided)."""
    found = expect(
        caller().get("registration", f"/v1/registration-requests/{request_id[:32]}"), 200
    )
    keep = ("id", "status", "verb", "reason", "message", "position", "section_id")
    return jsonify({k: found.get(k) for k in keep})


@blp.route("/programs/<int:program_id>/catalog")
@signed_in
def catalog(program_id: int) -> WerkzeugResponse:
    """The opening minute's page. What every student sees the same (program, classes and
    seats, timeslots, waiting room) comes from the shared reads; only the student's profile
    and sections are read for them."""
    program = _program(program_id, as_everyone=True)
    if not _profile_complete(program_id):
        flash("Complete your profile first: the catalog opens once it is saved.")
        return redirect(url_for("student.profile", program_id=program_id))
    data = _catalog_data(program_id)
    grade = request.args.get("grade", type=int)
    words = request.args.get("q", "").strip().lower()
    classes = [
        c
        for c in data["classes"]
        if (grade is None or c["grade_min"] <= grade <= c["grade_max"])
        and (not words or words in c["title"].lower())
    ]
    room = shared("registration", f"/v1/programs/{program_id}/waiting-room")
    cards: CatalogCards = current_app.extensions["web.cards"]
    packing = cards.shared and request.accept_encodings["gzip"] > 0
    body = cards.page_segments(program, classes, data) if packing else None
    plain = b"" if body is not None else cards.page(program, classes, data)
    html = render_template(
        "catalog.html",
        program=program,
        cards=Markup(CARDS_PLACE) if classes else "",
        token=generate_csrf(),
        key=secrets.token_hex(8),
        room=room,
        grade=grade,
        q=request.args.get("q", ""),
    )
    head, _, tail = (part.encode() for part in html.partition(CARDS_PLACE))
    if body is None:
        response = Response(b"".join((head, plain, tail)), mimetype="text/html")
    else:  # the head holds the form token: stored, never in a compression window (gzipped.py)
        pieces = [(head, stored(head)), *body, (tail, stored(tail))]
        response = Response(gzip_member(pieces), mimetype="text/html")
        response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


CARDS_PLACE = "<!--the catalog's cards-->"  # where the page puts them, already UTF-8


ACTIONS = {"enroll": 1, "waitlist": 1, "drop": 1, "switch": 2}  # and how many sections after


def asked_for(do: str) -> dict[str, Any] | None:
    """A button's value ("enroll 12", "waitlist 12", "drop 12", "switch 12 7": to 12 from 7)
    as the registration request it asks for; None for anything else."""
    words = do.split()
    if not words or ACTIONS.get(words[0]) != len(words) - 1:
        return None
    if not all(w.isascii() and w.isdigit() and 0 < int(w) < 2**31 for w in words[1:]):
        return None
    action, section, *rest = words
    body: dict[str, Any] = {"action": action, "section_id": int(section)}
    if action == "waitlist":
        body |= {"action": "enroll", "waitlist": True}
    if rest:
        body["from_section_id"] = int(rest[0])
    return body


@blp.route("/programs/<int:program_id>/requests", methods=["POST"])
@signed_in
def send_request(program_id: int) -> Any:
    """One add, drop, switch or waitlist, answered at once with queued (or waiting); the
    decision follows on the page's live stream."""
    form = request.form
    wants_json = request.accept_mimetypes.best == "application/json"
    body = asked_for(form.get("do", ""))
    if body is None:
        message = "The button sent no request this page knows (do: expected e.g. 'enroll 12')."
        if wants_json:
            return jsonify({"error": message, "field": "do"}), 400
        flash(message)
        return redirect(url_for("student.catalog", program_id=program_id))
    body["student_id"] = _me()
    key = (form.get("key") or secrets.token_hex(8))[:64]
    what = "-".join(form["do"].split())
    answer = caller().post(
        "registration",
        f"/v1/programs/{program_id}/registration-requests",
        json=body,
        headers={"Idempotency-Key": f"web-{key}-{what}"},
    )
    if answer.status_code == 202:
        accepted = answer.json()
        if wants_json:
            return jsonify(accepted), 202
        flash("Your request is in; the answer appears here shortly.")
    else:
        messages = [m for ms in field_errors(answer).values() for m in ms]
        if wants_json:
            return jsonify({"error": " ".join(messages)}), answer.status_code
        flash(" ".join(messages))
    return redirect(request.referrer or url_for("student.catalog", program_id=program_id))


@blp.route("/programs/<int:program_id>/schedule")
@signed_in
def schedule(program_id: int) -> str:
    program = _program(program_id)
    data = _catalog_data(program_id)
    zone = ZoneInfo(program.get("time_zone") or "UTC")
    sections = {s["id"]: (c, s) for c in data["classes"] for s in c["sections"]}
    days: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rows: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for slot in sorted(data["timeslots"].values(), key=lambda s: s["start"]):
        start = datetime.fromisoformat(slot["start"]).astimezone(zone)
        end = datetime.fromisoformat(slot["end"]).astimezone(zone)
        day = start.strftime("%a %-d %b")
        time = f"{start:%H:%M}-{end:%H:%M}"
        if slot not in days[day]:
            days[day].append(slot)
        for section_id, held in data["held"].items():
            if section_id in sections and slot["id"] in sections[section_id][1]["timeslot_ids"]:
                rows[time][day].append((sections[section_id][0], section_id, held["verb"]))
        rows.setdefault(time, defaultdict(list))
    return render_template(
        "schedule.html",
        program=program,
        days=list(days),
        rows={time: dict(cells) for time, cells in sorted(rows.items())},
        key=secrets.token_hex(8),
    )


@blp.route("/programs/<int:program_id>/lottery", methods=["GET", "POST"])
@signed_in
def lottery(program_id: int) -> str | WerkzeugResponse:
    program = _program(program_id)
    me = _me()
    c = caller()
    base = f"/v1/programs/{program_id}/students/{me}"
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if request.form.get("star"):
            answer = c.post(
                "lottery", f"{base}/stars", json={"class_id": int(request.form["star"])}
            )
        elif request.form.get("unstar"):
            answer = c.call("lottery", "DELETE", f"{base}/stars/{int(request.form['unstar'])}")
        else:
            ranking: dict[str, list[int]] = {}
            for name, value in request.form.items():
                if name.startswith("rank.") and value:
                    slot, _, _rank = name[5:].partition(".")
                    ranking.setdefault(slot, []).append(int(value))
            answer = c.call("lottery", "PUT", f"{base}/priorities", json=ranking)
        if answer.status_code < 300:
            flash("Saved.")
            return redirect(url_for("student.lottery", program_id=program_id))
        errors = field_errors(answer)
    data = _catalog_data(program_id)
    stars = expect(c.get("lottery", f"{base}/stars"), 200, 404) or {"class_ids": []}
    priorities = expect(c.get("lottery", f"{base}/priorities"), 200, 404) or {}
    return render_template(
        "lottery.html",
        program=program,
        stars=set(stars.get("class_ids", [])),
        priorities=priorities,
        errors=errors,
        limit=program.get("priority_limit") or 3,
        **data,
    )
