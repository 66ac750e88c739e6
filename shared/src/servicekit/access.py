"""Who may call an operation, declared on the view and checked before its input is read.

Checking access first means a student learns nothing about an admin endpoint's input rules
(they get 403, not 422), and a bad body never costs a database read for a caller who may not
act. The policy is also written into the OpenAPI document (``x-access``), where the
authorization tests read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from servicekit.auth import Principal

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_ATTRIBUTE = "__access__"


class Access(StrEnum):
    PUBLIC = "public"
    """No token needed (signing up and in, the public keys): anyone may call it."""
    ANY_TOKEN = "any_token"
    """Any valid token, student or admin."""
    ADMIN = "admin"
    """Admins only."""
    SELF_OR_ADMIN = "self_or_admin"
    """A student whose id is the path's ``student_id``, or an admin."""
    SELF_IN_BODY = "self_in_body"
    """A student whose id is the body's ``student_id``, or an admin."""

    @property
    def may_forbid(self) -> bool:
        return self not in (Access.ANY_TOKEN, Access.PUBLIC)

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]

    def check(self, principal: Principal, path: Mapping[str, Any], body: Any = None) -> None:
        """Raise ``AuthError`` (403) when ``principal`` may not call the operation.

        ``body`` is the parsed request body when there is one; a body whose ``student_id``
        cannot be read is left to validation, and the view checks the validated id again.
        """
        if self is Access.ADMIN:
            principal.ensure_admin()
        elif self is Access.SELF_OR_ADMIN:
            principal.ensure_can_act_for(path["student_id"])
        elif self is Access.SELF_IN_BODY and isinstance(body, dict):
            student_id = body.get("student_id")
            if isinstance(student_id, int) and not isinstance(student_id, bool):
                principal.ensure_can_act_for(student_id)


_SUMMARIES = {
    Access.PUBLIC: "No token needed.",
    Access.ANY_TOKEN: "Any valid token.",
    Access.ADMIN: "Admin token only.",
    Access.SELF_OR_ADMIN: "The student named in the path, or an admin.",
    Access.SELF_IN_BODY: "The student named by the body's student_id, or an admin.",
}


def declare_access(function: F, policy: Access) -> F:
    setattr(function, ACCESS_ATTRIBUTE, policy)
    return function


def access_of(function: object) -> Access | None:
    return getattr(function, ACCESS_ATTRIBUTE, None)
