"""``GET``/``PUT`` a student's profile for a program."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from profile_service.api.schemas import ProfileInSchema, ProfileSchema
from profile_service.use_cases.profiles import GradeClock, ProfileView, get_profile, save_profile

blp = ServiceBlueprint("profiles", __name__, url_prefix="/v1", description="Registration profiles.")

CLOCK = "profile.grade_clock"
# The contract's fields appear in every answer, null until given.
_BLANK = {
    "first_name": None,
    "last_name": None,
    "email": None,
    "phone": None,
    "emergency_contact": {"name": None, "phone": None, "relation": None},
    "guardian": {"name": None, "email": None, "phone": None},
}
_NESTED = ("emergency_contact", "guardian")


def _body(view: ProfileView) -> dict[str, Any]:
    nested = {key: {**_BLANK[key], **(view.document.get(key) or {})} for key in _NESTED}
    return {
        **_BLANK,
        **view.document,
        **nested,
        "id": view.id,
        "complete": view.complete,
        "student_id": view.student_id,
        "program_id": view.program_id,
        "grade": view.grade,
        "missing_fields": view.missing_fields,
        "updated_at": view.updated_at,
    }


def _clock() -> GradeClock:
    return current_app.extensions[CLOCK]()


@blp.route("/programs/<id:program_id>/students/<id:student_id>/profile")
class Profile(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(200, ProfileSchema)
    def get(self, program_id: int, student_id: int) -> dict[str, Any]:
        """The saved profile, or an unsaved draft (``id`` null) copied from the latest one."""
        with transaction() as session:
            return _body(get_profile(session, program_id, student_id, _clock()))

    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(ProfileInSchema)
    @blp.response(200, ProfileSchema)
    def put(self, body: dict[str, Any], program_id: int, student_id: int) -> dict[str, Any]:
        """Save the profile; when complete, the registration service hears of it by event.

        The body replaces the whole profile. An emergency contact needs at least one phone,
        and grade and graduation_year, when both are given, must agree.
        """
        with transaction() as session:
            return _body(save_profile(session, program_id, student_id, body, _clock()))
