"""The public half of the signing keys, for every service that verifies tokens."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint

from identity_service.api import schemas
from identity_service.keys import KeyRing

blp = ServiceBlueprint("jwks", __name__, url_prefix="/.well-known", description="Public keys.")


@blp.route("/jwks.json")
class Jwks(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.response(200, schemas.JwksSchema)
    def get(self) -> object:
        """The keys tokens are signed with (ES256): the newest, and any older one whose tokens
        may still be valid. Refetch on a token whose `kid` is not here."""
        keys: KeyRing = current_app.extensions["identity.keys"]
        return keys.jwks()
