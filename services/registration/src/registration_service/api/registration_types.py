"""Registration types (verbs)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.use_cases import registration_types

blp = Blueprint(
    "registration_types", __name__, url_prefix="/v1", description="Registration types (verbs)."
)

MAP_RESPONSE = {
    "description": "Registration types keyed by name.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/RegistrationType"},
            }
        }
    },
}


@blp.route("/registration-types")
class RegistrationTypes(MethodView):
    @blp.arguments(schemas.RegistrationTypeQuerySchema, location="query")
    @blp.doc(responses={"200": MAP_RESPONSE})
    def get(self, query: dict) -> dict:  # a map keyed by name: dumped here, not by a schema
        """Types of a category keyed by name; names in ``include`` are created when missing."""
        with transaction() as session:
            found = registration_types.get_map(session, query["include"], query["category"])
            dump = schemas.RegistrationTypeSchema().dump
            return {name: dump(row) for name, row in found.items()}
