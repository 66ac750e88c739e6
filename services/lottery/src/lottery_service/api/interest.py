"""Stars, priorities and the admin import: what students want from the lottery."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from lottery_service.api import schemas
from lottery_service.domain.preferences import ImportedPriority
from lottery_service.use_cases import interest

blp = ServiceBlueprint(
    "interest", __name__, url_prefix="/v1", description="Stars and ranked priorities."
)

IMPORT_ENDPOINT = "interest.Preferences"


@blp.route("/programs/<id:program_id>/students/<id:student_id>/stars")
class Stars(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(200, schemas.StarListSchema)
    def get(self, program_id: int, student_id: int) -> dict[str, Any]:
        """The classes the student has starred (a ranked class is starred too)."""
        with transaction() as session:
            interest.get_priorities(session, program_id, student_id)  # 404 for a program
            return {"class_ids": interest.active_stars(session, program_id, student_id)}

    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(schemas.StarInSchema)
    @blp.response(201, schemas.StarSchema)
    def post(self, body: dict[str, Any], program_id: int, student_id: int) -> object:
        """Star a class (starring it again keeps the star it has).

        The class must be in the program and within the student's grade, which the lottery
        knows once the student's profile for the program is complete.
        """
        with transaction() as session:
            return interest.star(session, program_id, student_id, body["class_id"])


@blp.route("/programs/<id:program_id>/students/<id:student_id>/stars/<id:class_id>")
class Star(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(204)
    def delete(self, program_id: int, student_id: int, class_id: int) -> None:
        """Unstar a class: the star is expired (kept as history), and the class leaves the
        student's rankings."""
        with transaction() as session:
            interest.unstar(session, program_id, student_id, class_id)


@blp.route("/programs/<id:program_id>/classes/<id:class_id>/interested-students")
class InterestedStudents(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.StudentIdsSchema)
    def get(self, program_id: int, class_id: int) -> dict[str, Any]:
        """The students who starred (or ranked) the class."""
        with transaction() as session:
            return {"student_ids": interest.interested_students(session, program_id, class_id)}


@blp.route("/programs/<id:program_id>/students/<id:student_id>/priorities")
class Priorities(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(200, schemas.RankingSchema)
    def get(self, program_id: int, student_id: int) -> dict[int, list[int]]:
        """The student's ranked classes per timeslot."""
        with transaction() as session:
            return interest.get_priorities(session, program_id, student_id)

    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(schemas.RankingSchema)
    @blp.response(200, schemas.RankingSchema)
    def put(
        self, body: dict[int, list[int]], program_id: int, student_id: int
    ) -> dict[int, list[int]]:
        """Replace the student's rankings: ``{"<timeslot_id>": [class ranked 1, 2, ..]}``.

        Each class needs a section starting in that timeslot and must be within the student's
        grade; at most the program's ``priority_limit`` per timeslot. A ranked class is
        starred. An empty list clears a timeslot; nothing is saved when an entry is refused.
        """
        with transaction() as session:
            return interest.set_priorities(session, program_id, student_id, body)


@blp.route("/programs/<id:program_id>/preferences")
class Preferences(MethodView):
    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.PreferencesInSchema)
    @blp.response(200, schemas.ImportCountsSchema)
    def put(self, body: dict[str, Any], program_id: int) -> dict[str, int]:
        """Replace every student's stars, priorities and caps in the program (admin): an
        import from forms or another system.

        The whole body is checked first; a bad row is a 422 naming its index
        (``priorities.12.rank``) and nothing is saved. Bodies may be up to MAX_IMPORT_BYTES.
        """
        stars = [(row["student_id"], row["class_id"]) for row in body["stars"]]
        priorities = [ImportedPriority(**row) for row in body["priorities"]]
        caps = [
            (row["student_id"], row["max_sections"], row["max_timeslots"]) for row in body["caps"]
        ]
        with transaction() as session:
            return interest.import_preferences(session, program_id, stars, priorities, caps)
