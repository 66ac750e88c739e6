"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

from marshmallow import Schema, fields, validate
from servicekit.schema_fields import StrictSchema

from identity_service.domain.accounts import MAX_EMAIL, Role
from identity_service.domain.passwords import MAX_LENGTH

TOKEN = validate.Length(min=1, max=200)


def _email(**kwargs: object) -> fields.String:
    return fields.String(validate=validate.Length(min=3, max=MAX_EMAIL), **kwargs)


def _password(**kwargs: object) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=MAX_LENGTH), **kwargs)


class SignUpSchema(StrictSchema):
    email = _email(required=True)
    password = _password(
        required=True,
        metadata={"description": "At least 10 characters, not a commonly used password."},
    )
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class AccountSchema(Schema):
    id = fields.Integer(metadata={"description": "The student_id every service uses."})
    email = fields.String()
    display_name = fields.String()
    role = fields.String(metadata={"description": "student or admin"})
    email_verified = fields.Boolean()
    disabled = fields.Boolean()
    created_at = fields.AwareDateTime()


class AccountListSchema(Schema):
    accounts = fields.List(fields.Nested(AccountSchema))


class AccountQuerySchema(StrictSchema):
    email = _email(required=True)


class AccountPatchSchema(StrictSchema):
    role = fields.String(validate=validate.OneOf([r.value for r in Role]))
    disabled = fields.Boolean()


class TokenInSchema(StrictSchema):
    token = fields.String(required=True, validate=TOKEN)


class VerifiedSchema(Schema):
    id = fields.Integer()
    email_verified = fields.Boolean()


class EmailInSchema(StrictSchema):
    email = _email(required=True)


class SignInSchema(StrictSchema):
    email = _email(required=True)
    password = _password(required=True)


class RefreshInSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=TOKEN)


class TokensSchema(Schema):
    access_token = fields.String()
    refresh_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer(metadata={"description": "Seconds the access token is good for."})


class ResetConfirmSchema(StrictSchema):
    token = fields.String(required=True, validate=TOKEN)
    password = _password(required=True)


class AcceptedSchema(Schema):
    message = fields.String()


class JwkSchema(Schema):
    kty = fields.String()
    crv = fields.String()
    x = fields.String()
    y = fields.String()
    kid = fields.String()
    alg = fields.String()
    use = fields.String()


class JwksSchema(Schema):
    keys = fields.List(fields.Nested(JwkSchema))
