"""Schedule constraints and lunch: organisers' rules on students' schedules. Admins only."""

from __future__ import annotations

from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from registration_service.api import constraint_schemas as schemas
from registration_service.use_cases import constraints, lunch

blp = ServiceBlueprint(
    "schedule_constraints",
    __name__,
    url_prefix="/v1",
    description="Rules on students' schedules: if a condition holds, a requirement must too.",
)


@blp.route("/programs/<id:program_id>/schedule-constraints")
class ScheduleConstraints(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.ConstraintListSchema)
    def get(self, program_id: int) -> object:
        """The program's schedule constraints, oldest first (admin)."""
        with transaction() as session:
            return {"constraints": constraints.list_constraints(session, program_id)}

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.ConstraintInSchema)
    @blp.response(201, schemas.ConstraintSchema)
    def post(self, body: dict, program_id: int) -> object:
        """Add a schedule constraint (admin).

        From now on an enroll, switch or drop is rejected (constraint_failed, its message
        naming the label) when, on the schedule it would leave, the condition holds (or is
        null) and the requirement does not. Every timeslot, class and section an expression
        names must belong to the program; an error names its path (requirement.all.1.occupied).
        """
        with transaction() as session:
            return constraints.create_constraint(
                session, program_id, constraints.NewConstraint(**body)
            )


@blp.route("/programs/<id:program_id>/schedule-constraints/<id:constraint_id>")
class ScheduleConstraint(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(204)
    def delete(self, program_id: int, constraint_id: int) -> None:
        """Remove a schedule constraint (admin); seats already taken stay."""
        with transaction() as session:
            constraints.delete_constraint(session, program_id, constraint_id)


@blp.route("/programs/<id:program_id>/lunch")
class Lunch(MethodView):
    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.LunchInSchema)
    @blp.response(201, schemas.LunchSchema)
    def post(self, body: dict, program_id: int) -> object:
        """Set up lunch from the program's lunch timeslots (admin).

        Per day holding one of them: a Lunch class with a section in each, and a "Take a lunch
        period" constraint for students with a class before lunch and one after. Every
        timeslot must belong to the program. Each call adds another Lunch class per day.
        """
        with transaction() as session:
            return lunch.add_lunch(session, program_id, body["timeslot_ids"])
