"""Programs, timeslots, classes and the catalog. Admins write; any token reads."""

from __future__ import annotations

from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.domain.model import SectionStatus
from registration_service.use_cases import catalog, controls, opening

blp = ServiceBlueprint(
    "catalog", __name__, url_prefix="/v1", description="Programs and their catalog."
)


@blp.route("/programs")
class Programs(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.ProgramListSchema)
    def get(self) -> object:
        """List programs."""
        with transaction() as session:
            return {"programs": catalog.list_programs(session)}

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.ProgramInSchema)
    @blp.response(201, schemas.ProgramSchema)
    def post(self, body: dict) -> object:
        """Create a program (admin).

        grade_max must be at least grade_min, and registration_closes_at after
        registration_opens_at; opening_window_seconds needs registration_opens_at.
        """
        with transaction() as session:
            return catalog.create_program(session, catalog.NewProgram(**body))


@blp.route("/programs/<id:program_id>")
class Program(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.ProgramSchema)
    def get(self, program_id: int) -> object:
        """Read one program."""
        with transaction() as session:
            return catalog.get_program(session, program_id)

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.ProgramPatchSchema)
    @blp.response(200, schemas.ProgramSchema)
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, body: dict, program_id: int) -> object:
        """Change any program field (admin), the registration window included.

        The result must hold together (grade_max at least grade_min, registration_closes_at
        after registration_opens_at, opening_window_seconds only with registration_opens_at);
        a student_capacity below the students already holding a seat is a 409 naming them.
        """
        with transaction() as session:
            return controls.update_program(session, program_id, body)


@blp.route("/programs/<id:program_id>/opening")
class Opening(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.OpeningSchema)
    def get(self, program_id: int) -> object:
        """The program's fair opening (admin): the seed drawn at its release and the order of
        the waiting students it gave; null and [] before the release."""
        with transaction() as session:
            return opening.get_opening(session, program_id)


@blp.route("/programs/<id:program_id>/waiting-room")
class WaitingRoom(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.WaitingRoomSchema)
    def get(self, program_id: int) -> object:
        """The program's fair-opening waiting room as a student's page shows it: when it
        releases, whether it has, and how many students and requests wait in it now."""
        with transaction() as session:
            return opening.get_waiting_room(session, program_id)


@blp.route("/sections/<id:section_id>")
class Section(MethodView):
    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.SectionPatchSchema)
    @blp.response(200, schemas.SectionSchema)
    @blp.alt_response(409, response="CONFLICT")
    def patch(self, body: dict, section_id: int) -> object:
        """Change a section's capacity or close or open it (admin).

        A capacity below the students enrolled is a 409 naming them. New seats go to the
        waitlist at once, earliest first, each promoted student told on their outcome stream.
        A closed section rejects new requests ``section_closed``.
        """
        status = SectionStatus(body["status"]) if "status" in body else None
        with transaction() as session:
            return controls.update_section(
                session, section_id, capacity=body.get("capacity"), status=status
            )


@blp.route("/programs/<id:program_id>/timeslots")
class Timeslots(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.TimeslotListSchema)
    def get(self, program_id: int) -> object:
        """The program's timeslots, in time order."""
        with transaction() as session:
            return {"timeslots": catalog.list_timeslots(session, program_id)}

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.TimeslotInSchema)
    @blp.response(201, schemas.TimeslotSchema)
    def post(self, body: dict, program_id: int) -> object:
        """Add a timeslot to a program (admin).

        end must be after start.
        """
        with transaction() as session:
            return catalog.add_timeslot(session, program_id, body["start"], body["end"])


@blp.route("/programs/<id:program_id>/classes")
class Classes(MethodView):
    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.ClassInSchema)
    @blp.response(201, schemas.ClassSchema)
    def post(self, body: dict, program_id: int) -> object:
        """Add a class and its sections (admin).

        grade_max must be at least grade_min, and every timeslot must belong to the program.
        """
        sections = [
            catalog.NewSection(s["capacity"], tuple(s["timeslot_ids"])) for s in body["sections"]
        ]
        with transaction() as session:
            return catalog.add_class(
                session, program_id, body["title"], body["grade_min"], body["grade_max"], sections
            )


@blp.route("/programs/<id:program_id>/catalog")
class Catalog(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.CatalogSchema)
    def get(self, program_id: int) -> object:
        """Every class of the program with its sections and their seat counts."""
        with transaction() as session:
            return {"classes": catalog.get_catalog(session, program_id)}
