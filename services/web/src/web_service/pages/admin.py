"""The organiser's pages: programs and their catalog (a CSV import with every bad row named and
nothing saved), schedule constraints and lunch, the opening board, rosters and waitlists with
capacity and open/closed, a student lookup, and the lottery's runs, commit and revert."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from web_service.pages.common import admin_only, caller, expect, field_errors
from web_service.pages.student import program_state

blp = Blueprint("admin", __name__, url_prefix="/admin")

PROGRAM_FIELDS = (
    "name",
    "grade_min",
    "grade_max",
    "student_capacity",
    "use_priority",
    "priority_limit",
    "registration_opens_at",
    "registration_closes_at",
    "opening_window_seconds",
    "waitlist_limit_per_timeslot",
    "time_zone",
)
INTEGERS = {
    "grade_min",
    "grade_max",
    "student_capacity",
    "priority_limit",
    "opening_window_seconds",
    "waitlist_limit_per_timeslot",
}
CSV_COLUMNS = ("title", "grade_min", "grade_max", "capacity", "timeslot_ids")


def _program_body(form: Any, zone: str) -> dict[str, Any]:
    """The form's fields as the registration service takes them; local times in ``zone``."""
    body: dict[str, Any] = {}
    for name in PROGRAM_FIELDS:
        if name == "use_priority":
            body[name] = form.get(name) == "on"
            continue
        raw = form.get(name, "").strip()
        if name in INTEGERS:
            body[name] = int(raw) if raw.lstrip("-").isdigit() else (raw or None)
        elif name.startswith("registration_"):
            body[name] = _moment(raw, form.get("time_zone") or zone) if raw else None
        else:
            body[name] = raw
    if body.get("waitlist_limit_per_timeslot") is None:
        body.pop("waitlist_limit_per_timeslot")
    return body


def _moment(local: str, zone: str) -> str:
    """``2026-12-05T10:00`` (a datetime-local input) in ``zone``, as ISO with its offset."""
    try:
        return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).isoformat()
    except (ValueError, KeyError):
        return local


def _local_input(value: str | None, zone: str) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


@blp.route("/", methods=["GET", "POST"])
@admin_only
def programs() -> str | WerkzeugResponse:
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        body = _program_body(request.form, "UTC")
        answer = caller().post("registration", "/v1/programs", json=body)
        if answer.status_code == 201:
            flash(f"Program {answer.json()['name']} created.")
            return redirect(url_for("admin.program", program_id=answer.json()["id"]))
        errors = field_errors(answer)
    listed = expect(caller().get("registration", "/v1/programs"), 200)["programs"]
    for program in listed:
        program["state"] = program_state(program)
    return render_template("admin/programs.html", programs=listed, errors=errors, form=request.form)


def _load(program_id: int) -> dict[str, Any]:
    c = caller()
    program = expect(c.get("registration", f"/v1/programs/{program_id}"), 200)
    zone = program.get("time_zone") or "UTC"
    return {
        "program": program,
        "zone": zone,
        "inputs": {
            "registration_opens_at": _local_input(program.get("registration_opens_at"), zone),
            "registration_closes_at": _local_input(program.get("registration_closes_at"), zone),
        },
        "timeslots": expect(c.get("registration", f"/v1/programs/{program_id}/timeslots"), 200)[
            "timeslots"
        ],
        "classes": expect(c.get("registration", f"/v1/programs/{program_id}/catalog"), 200)[
            "classes"
        ],
        "constraints": expect(
            c.get("registration", f"/v1/programs/{program_id}/schedule-constraints"), 200
        )["constraints"],
    }


@blp.route("/programs/<int:program_id>", methods=["GET", "POST"])
@admin_only
def program(program_id: int) -> str | WerkzeugResponse:
    data = _load(program_id)
    errors: dict[str, dict[str, list[str]]] = {}
    if request.method == "POST":
        part = request.form.get("part", "")
        answer = _change(program_id, part, data)
        if answer is None or answer.status_code < 300:
            flash("Saved.")
            return redirect(url_for("admin.program", program_id=program_id) + f"#{part}")
        errors[part] = field_errors(answer)
        data = _load(program_id)
    return render_template("admin/program.html", errors=errors, form=request.form, **data)


def _change(program_id: int, part: str, data: dict[str, Any]) -> Any:
    c = caller()
    base = f"/v1/programs/{program_id}"
    form = request.form
    if part == "fields":
        return c.call("registration", "PATCH", base, json=_program_body(form, data["zone"]))
    if part == "timeslot":
        zone = data["zone"]
        body = {
            "start": _moment(form.get("start", ""), zone),
            "end": _moment(form.get("end", ""), zone),
        }
        return c.post("registration", f"{base}/timeslots", json=body)
    if part == "constraint":
        try:
            condition = json.loads(form["condition"]) if form.get("condition", "").strip() else None
            requirement = json.loads(form.get("requirement", ""))
        except ValueError:
            return _Refusal(
                {"requirement": ['Write the expression as JSON, e.g. {"occupied": 3}.']}
            )
        body = {"label": form.get("label", ""), "condition": condition, "requirement": requirement}
        return c.post("registration", f"{base}/schedule-constraints", json=body)
    if part == "delete-constraint":
        return c.call(
            "registration", "DELETE", f"{base}/schedule-constraints/{int(form['constraint_id'])}"
        )
    if part == "lunch":
        ids = [int(i) for i in form.getlist("timeslot_ids") if i.isdigit()]
        return c.post("registration", f"{base}/lunch", json={"timeslot_ids": ids})
    if part == "import":
        return _import(program_id, data)
    return _Refusal({"": ["Unknown form."]})


class _Refusal:
    """A refusal the page makes itself, shaped like a service's 422."""

    status_code = 422

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields

    def json(self) -> dict[str, Any]:
        return {"error": {"code": "validation_error", "message": "", "fields": self.fields}}


def parse_classes_csv(
    text: str, timeslot_ids: set[int], grades: tuple[int, int]
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Rows of ``title,grade_min,grade_max,capacity,timeslot_ids`` (ids separated by spaces; a
    title on several rows is one class with several sections) as class bodies, or every bad row
    named (``row 3: capacity``) and nothing to save."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return [], {
            "file": [
                f"The first line must name the columns {', '.join(CSV_COLUMNS)}; "
                f"missing {', '.join(missing)}."
            ]
        }
    classes: dict[str, dict[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    for number, row in enumerate(reader, start=2):
        where = f"row {number}"
        problems: list[str] = []
        title = (row.get("title") or "").strip()
        if not title:
            problems.append("title: give the class a title.")
        values: dict[str, int] = {}
        for name in ("grade_min", "grade_max", "capacity"):
            raw = (row.get(name) or "").strip()
            if not raw.isdigit():
                problems.append(f"{name}: a whole number, not {raw!r}.")
            else:
                values[name] = int(raw)
        if "grade_min" in values and "grade_max" in values:
            if values["grade_min"] > values["grade_max"]:
                problems.append("grade_max: at least grade_min.")
            if values["grade_min"] < grades[0] or values["grade_max"] > grades[1]:
                problems.append(f"grades: within the program's {grades[0]}-{grades[1]}.")
        if values.get("capacity") == 0:
            problems.append("capacity: at least 1.")
        slots = (row.get("timeslot_ids") or "").split()
        if not slots or not all(s.isdigit() and int(s) in timeslot_ids for s in slots):
            problems.append(
                "timeslot_ids: ids of this program's timeslots "
                f"({' '.join(map(str, sorted(timeslot_ids)))})."
            )
        if problems:
            errors[where] = problems
            continue
        entry = classes.setdefault(
            title,
            {
                "title": title,
                "grade_min": values["grade_min"],
                "grade_max": values["grade_max"],
                "sections": [],
            },
        )
        entry["sections"].append(
            {"capacity": values["capacity"], "timeslot_ids": [int(s) for s in slots]}
        )
    if not classes and not errors:
        errors["file"] = ["The file has no rows."]
    if errors:  # all or nothing: one bad row and no class is saved
        return [], errors
    return list(classes.values()), errors


def _import(program_id: int, data: dict[str, Any]) -> Any:
    upload = request.files.get("file")
    text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
    program = data["program"]
    timeslots = {slot["id"] for slot in data["timeslots"]}
    classes, errors = parse_classes_csv(
        text, timeslots, (program["grade_min"], program["grade_max"])
    )
    if errors:
        return _Refusal(errors)
    for body in classes:
        answer = caller().post("registration", f"/v1/programs/{program_id}/classes", json=body)
        if answer.status_code != 201:
            return answer
    flash(
        f"Imported {len(classes)} classes with {sum(len(c['sections']) for c in classes)} sections."
    )
    return None


@blp.route("/programs/<int:program_id>/board")
@admin_only
def board(program_id: int) -> str:
    program = expect(caller().get("registration", f"/v1/programs/{program_id}"), 200)
    return render_template("admin/board.html", program=program)


@blp.route("/sections/<int:section_id>", methods=["GET", "POST"])
@admin_only
def section(section_id: int) -> str | WerkzeugResponse:
    c = caller()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        body: dict[str, Any] = {}
        if request.form.get("capacity", "").strip():
            raw = request.form["capacity"].strip()
            body["capacity"] = int(raw) if raw.isdigit() else raw
        if request.form.get("status"):
            body["status"] = request.form["status"]
        answer = c.call("registration", "PATCH", f"/v1/sections/{section_id}", json=body)
        if answer.status_code == 200:
            flash("Section saved.")
            return redirect(url_for("admin.section", section_id=section_id))
        errors = field_errors(answer)
    roster = expect(c.get("registration", f"/v1/sections/{section_id}/students"), 200)
    waitlist = expect(c.get("registration", f"/v1/sections/{section_id}/waitlist"), 200)
    return render_template(
        "admin/section.html",
        section_id=section_id,
        roster=roster["student_ids"],
        waitlist=waitlist["students"],
        errors=errors,
    )


@blp.route("/students")
@admin_only
def students() -> str:
    c = caller()
    email = request.args.get("email", "").strip()
    program_id = request.args.get("program_id", type=int)
    found = None
    schedule: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    if email:
        accounts = expect(c.get("identity", "/v1/accounts", params={"email": email}), 200, 422)
        found = (accounts or {}).get("accounts", [None])[0] if accounts else None
    if found and program_id:
        base = f"/v1/programs/{program_id}/students/{found['id']}"
        schedule = expect(
            c.get("registration", f"{base}/sections", params={"verbs": "Enrolled,Waitlisted"}),
            200,
        )["sections"]
        history = expect(c.get("registration", f"{base}/requests"), 200)["requests"]
    programs = expect(c.get("registration", "/v1/programs"), 200)["programs"]
    return render_template(
        "admin/students.html",
        email=email,
        found=found,
        programs=programs,
        program_id=program_id,
        schedule=schedule,
        history=history,
    )


@blp.route("/programs/<int:program_id>/lottery", methods=["GET", "POST"])
@admin_only
def lottery(program_id: int) -> str | WerkzeugResponse:
    c = caller()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.form.get("action")
        if action == "start":
            body: dict[str, Any] = {}
            if request.form.get("seed", "").strip():
                body["seed"] = (
                    int(request.form["seed"])
                    if request.form["seed"].isdigit()
                    else request.form["seed"]
                )
            if request.form.get("time_limit_seconds", "").strip():
                body["time_limit_seconds"] = float(request.form["time_limit_seconds"])
            answer = c.post("lottery", f"/v1/programs/{program_id}/lottery-runs", json=body)
        elif action in ("commit", "revert") and request.form.get("confirm") == "yes":
            answer = c.post("lottery", f"/v1/lottery-runs/{int(request.form['run_id'])}/{action}")
        else:
            answer = _Refusal({"confirm": ["Tick the box to confirm."]})
        if answer.status_code < 300:
            flash("Done: the run's status below follows it.")
            return redirect(url_for("admin.lottery", program_id=program_id))
        errors = field_errors(answer)
    program = expect(c.get("registration", f"/v1/programs/{program_id}"), 200)
    runs = expect(c.get("lottery", f"/v1/programs/{program_id}/lottery-runs"), 200, 404) or {
        "runs": []
    }
    return render_template(
        "admin/lottery.html", program=program, runs=runs.get("runs", []), errors=errors
    )
