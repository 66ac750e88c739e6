"""Rosters and a student's registrations. Students read only their own; rosters are admin-only."""

from __future__ import annotations

from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.use_cases import queries, requests

blp = ServiceBlueprint("queries", __name__, url_prefix="/v1", description="Who holds what.")

STUDENT = "/programs/<id:program_id>/students/<id:student_id>"


@blp.route("/sections/<id:section_id>/students")
class SectionStudents(MethodView):
    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.VerbsQuerySchema, location="query")
    @blp.response(200, schemas.StudentIdsSchema)
    def get(self, query: dict, section_id: int) -> dict:
        """Students validly registered in a section with one of ``verbs`` (admin)."""
        with transaction() as session:
            return {"student_ids": queries.section_students(session, section_id, query["verbs"])}


@blp.route("/sections/<id:section_id>/waitlist")
class SectionWaitlist(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.WaitlistSchema)
    def get(self, section_id: int) -> dict:
        """The section's waitlist in the order freed seats go to it, 1 = next (admin)."""
        with transaction() as session:
            line = queries.waitlist(session, section_id)
        return {"students": [{"student_id": s, "position": i} for i, s in enumerate(line, 1)]}


@blp.route(f"{STUDENT}/requests")
class StudentRequests(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(200, schemas.RequestListSchema)
    def get(self, program_id: int, student_id: int) -> dict:
        """The student's requests in the program, newest first (at most 200)."""
        with transaction() as session:
            return {"requests": requests.student_requests(session, program_id, student_id)}


@blp.route(f"{STUDENT}/sections")
class StudentSections(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(schemas.StudentSectionsQuerySchema, location="query")
    @blp.response(200, schemas.StudentSectionsSchema)
    def get(self, query: dict, program_id: int, student_id: int) -> dict:
        """A student's sections, by verb (every verb when none is given)."""
        with transaction() as session:
            found = queries.student_sections(
                session, program_id, student_id, query["verbs"], query["valid_only"]
            )
            return {"sections": found}


@blp.route(f"{STUDENT}/classes")
class StudentClasses(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.response(200, schemas.StudentClassesSchema)
    def get(self, program_id: int, student_id: int) -> dict:
        """The classes a student is enrolled in."""
        with transaction() as session:
            found = queries.student_classes(session, program_id, student_id)
            return {"classes": [{"class_id": cid, "title": title} for cid, title in found]}


@blp.route(f"{STUDENT}/priority")
class StudentPriority(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(schemas.PriorityQuerySchema, location="query")
    @blp.response(200, schemas.PrioritySchema)
    def get(self, query: dict, program_id: int, student_id: int) -> dict:
        """0 when already enrolled in one of the timeslots, else the next free priority level."""
        with transaction() as session:
            level = queries.registration_priority(
                session, program_id, student_id, query["timeslot_ids"]
            )
            return {"priority": level}
