"""Registration types (verbs)."""

from __future__ import annotations

from flask.views import MethodView
from servicekit.auth import AuthError
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_auth import current_principal
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.use_cases import registration_types

blp = ServiceBlueprint(
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
    @blp.access(Access.ANY_TOKEN)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.arguments(schemas.RegistrationTypeQuerySchema, location="query")
    @blp.doc(responses={"200": MAP_RESPONSE})
    def get(self, query: dict) -> dict:  # a map keyed by name: dumped here, not by a schema
        """Types of a category keyed by name.

        Names in ``include`` that are missing are created for an admin; a student naming a
        missing type gets 403 and nothing is created.
        """
        admin = current_principal().is_admin
        try:
            with transaction() as session:
                found = registration_types.get_map(
                    session, query["include"], query["category"], create_missing=admin
                )
                dump = schemas.RegistrationTypeSchema().dump
                return {name: dump(row) for name, row in found.items()}
        except registration_types.TypesMissing as exc:
            raise AuthError(
                403,
                "forbidden",
                f"Only an admin can create registration types; missing: {', '.join(exc.names)}.",
            ) from exc
