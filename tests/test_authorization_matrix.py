"""Every operation of the three OpenAPI documents, tried with ten callers (issue 8).

The operations come from each service's generated document, so a new endpoint is covered
without anyone adding it here. Its expected answers come from the ``x-access`` policy the
document carries, and the policies of the contract's own operations are pinned below, so a
policy cannot drift from the contract unnoticed either.

Authorization runs before validation, so a caller who may not act gets 401/403 whatever the
body; one who may gets anything but 401/403 (a 404 for a program that does not exist is
fine) and never a 5xx. The apps trust ``TEST_SIGNER``'s public key only: a token it did not
sign, or signed for another audience or as another issuer, is a 401 on every operation but
the public ones, which need no token and so accept every caller.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from devstack.tokens import TEST_SIGNER, Signer, issue_token
from service_apps import SERVICES, make_app
from servicekit.settings import DEFAULT_AUDIENCE

OWN, OTHER = 42, 43
METHODS = ("get", "put", "post", "patch", "delete")

_STUDENT = "/v1/programs/{program_id}/students/{student_id}"
# The contract's operations and who may call them (CONTRACT.md, "Auth" and each service).
CONTRACT_ACCESS = {
    ("registration", "post", "/v1/programs"): "admin",
    ("registration", "get", "/v1/programs"): "any_token",
    ("registration", "post", "/v1/programs/{program_id}/timeslots"): "admin",
    ("registration", "post", "/v1/programs/{program_id}/classes"): "admin",
    ("registration", "get", "/v1/programs/{program_id}/catalog"): "any_token",
    ("registration", "post", "/v1/programs/{program_id}/schedule-constraints"): "admin",
    ("registration", "patch", "/v1/programs/{program_id}"): "admin",
    ("registration", "patch", "/v1/sections/{section_id}"): "admin",
    ("registration", "get", "/v1/sections/{section_id}/waitlist"): "admin",
    ("registration", "get", "/v1/programs/{program_id}/opening"): "admin",
    ("registration", "get", "/v1/registration-types"): "any_token",
    ("registration", "post", "/v1/programs/{program_id}/registration-requests"): "self_in_body",
    ("registration", "get", "/v1/registration-requests/{request_id}"): "any_token",
    ("registration", "get", "/v1/students/{student_id}/outcomes"): "self_or_admin",
    ("registration", "get", "/v1/sections/{section_id}/students"): "admin",
    ("registration", "get", "/v1/programs/{program_id}/students/{student_id}/sections"): (
        "self_or_admin"
    ),
    ("registration", "get", "/v1/programs/{program_id}/students/{student_id}/classes"): (
        "self_or_admin"
    ),
    ("registration", "get", "/v1/programs/{program_id}/students/{student_id}/priority"): (
        "self_or_admin"
    ),
    ("profile", "get", "/v1/programs/{program_id}/students/{student_id}/profile"): "self_or_admin",
    ("profile", "put", "/v1/programs/{program_id}/students/{student_id}/profile"): "self_or_admin",
    ("identity", "post", "/v1/accounts"): "public",
    ("identity", "post", "/v1/accounts/verify"): "public",
    ("identity", "post", "/v1/sessions"): "public",
    ("identity", "post", "/v1/sessions/refresh"): "public",
    ("identity", "post", "/v1/sessions/revoke"): "public",
    ("identity", "post", "/v1/password-resets"): "public",
    ("identity", "post", "/v1/password-resets/confirm"): "public",
    ("identity", "get", "/v1/accounts/me"): "any_token",
    ("identity", "get", "/v1/accounts"): "admin",
    ("identity", "patch", "/v1/accounts/{account_id}"): "admin",
    ("identity", "get", "/.well-known/jwks.json"): "public",
    ("lottery", "post", f"{_STUDENT}/stars"): "self_or_admin",
    ("lottery", "get", f"{_STUDENT}/stars"): "self_or_admin",
    ("lottery", "delete", f"{_STUDENT}/stars/{{class_id}}"): "self_or_admin",
    ("lottery", "put", f"{_STUDENT}/priorities"): "self_or_admin",
    ("lottery", "get", f"{_STUDENT}/priorities"): "self_or_admin",
    # Other students' ids: an organiser's list (the contract names no role).
    ("lottery", "get", "/v1/programs/{program_id}/classes/{class_id}/interested-students"): (
        "admin"
    ),
    ("lottery", "put", "/v1/programs/{program_id}/preferences"): "admin",
    ("lottery", "post", "/v1/programs/{program_id}/lottery-runs"): "admin",
    ("lottery", "get", "/v1/lottery-runs/{run_id}"): "any_token",
    ("lottery", "get", "/v1/lottery-runs/{run_id}/assignments"): "admin",
    ("lottery", "post", "/v1/lottery-runs/{run_id}/commit"): "admin",
}


def _unsigned(claims: dict[str, Any]) -> str:
    """Every claim right, the trusted key named, and no signature (``alg: none``)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    header = {"alg": "none", "typ": "JWT", "kid": TEST_SIGNER.kid}
    return f"{part(header)}.{part(claims)}."


def _callers() -> dict[str, str | None]:
    now = int(time.time())
    admin_claims = {
        "sub": "admin",
        "role": "admin",
        "iss": TEST_SIGNER.issuer,
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    # The trusted key's id on another key's signature: the kid is known, the signature is not.
    impostor = Signer(Signer.generate().key, TEST_SIGNER.kid)
    return {
        "no token": None,
        "expired": TEST_SIGNER.issue(OWN, "student", ttl_seconds=-60),
        "wrong signature": impostor.issue("admin", "admin"),
        "alg none": _unsigned(admin_claims),
        "unknown key": Signer.generate().issue("admin", "admin"),
        "wrong audience": TEST_SIGNER.issue("admin", "admin", audience="another-audience"),
        "wrong issuer": TEST_SIGNER.issue("admin", "admin", iss="another-issuer"),
        "student, own id": issue_token(OWN, "student"),
        "student, other id": issue_token(OTHER, "student"),
        "admin": issue_token("admin", "admin"),
    }


CALLERS = list(_callers())
UNAUTHENTICATED = {
    "no token",
    "expired",
    "wrong signature",
    "alg none",
    "unknown key",
    "wrong audience",
    "wrong issuer",
}


TOKEN_CODES = {"missing_token", "invalid_token", "token_expired", "forbidden"}


def _error_code(response: Any) -> str | None:
    if response.mimetype != "application/json":
        return None
    body = response.get_json(silent=True)
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def allowed(policy: str, caller: str) -> bool:
    if policy == "public":
        return True
    if caller in UNAUTHENTICATED:
        return False
    if caller == "admin" or policy == "any_token":
        return True
    return policy in ("self_or_admin", "self_in_body") and caller == "student, own id"


@pytest.fixture(scope="module")
def clients(tmp_path_factory, redis_server) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("matrix")
    apps = {name: make_app(name, directory, redis_server.url) for name in SERVICES}
    yield {name: app.test_client() for name, app in apps.items()}
    apps["registration"].extensions["registration.fanout"].stop()  # its Redis goes next


@pytest.fixture(scope="module")
def documents(clients) -> dict[str, dict]:
    return {name: client.get("/openapi.json").json for name, client in clients.items()}


def operations(documents: dict[str, dict]) -> list[tuple[str, str, str, dict, dict]]:
    found = []
    for service, document in documents.items():
        for path, item in document["paths"].items():
            for method in METHODS:
                if method in item:
                    found.append((service, method, path, item, document))
    return found


def example(schema: dict, document: dict, name: str = "") -> Any:
    """The smallest value the schema allows; ``student_id`` is always the student's own."""
    if "$ref" in schema:
        schema = _resolve(document, schema["$ref"])
    if name == "student_id":
        return OWN
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {key: example(schema["properties"][key], document, key) for key in required}
    if kind == "array":
        return [example(schema["items"], document) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if schema.get("format") == "date-time":
        return "2026-12-05T09:00:00+00:00"
    return "x" * max(1, schema.get("minLength", 1))


def _resolve(document: dict, ref: str) -> dict:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def build_request(method: str, path: str, item: dict, document: dict) -> dict[str, Any]:
    operation = item[method]
    parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
    url, query = path, {}
    for parameter in parameters:
        value = OWN if parameter["name"] == "student_id" else example(parameter["schema"], document)
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query" and parameter.get("required"):
            query[parameter["name"]] = "1" if parameter["name"].endswith("_ids") else value
    request: dict[str, Any] = {"method": method.upper(), "path": url, "query_string": query}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        request["json"] = example(body["schema"], document)
    return request


def test_every_operation_declares_its_access(documents):
    missing = [
        (service, method, path)
        for service, method, path, item, _ in operations(documents)
        if "x-access" not in item[method]
    ]
    assert not missing


def test_the_contracts_operations_keep_the_contracts_access(documents):
    found = {
        (service, method, path): item[method].get("x-access")
        for service, method, path, item, _ in operations(documents)
    }
    for key, policy in CONTRACT_ACCESS.items():
        assert found.get(key) == policy, key


def test_the_matrix(clients, documents):
    """One row per operation, one column per caller; every cell as the policy says."""
    tokens = _callers()
    wrong: list[str] = []
    cells = 0
    for service, method, path, item, document in operations(documents):
        policy = item[method]["x-access"]
        request = build_request(method, path, item, document)
        for caller in CALLERS:
            token = tokens[caller]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if caller == "student, other id":  # acting on student 42's path or body
                headers = {"Authorization": f"Bearer {tokens['student, other id']}"}
            response = clients[service].open(**request, headers=headers, buffered=False)
            status = response.status_code
            code = _error_code(response)
            response.close()
            cells += 1
            if caller in UNAUTHENTICATED and policy != "public":
                ok = status == 401
            elif policy == "public":  # a sign-in may be refused, never for the bearer token
                ok = status < 500 and code not in TOKEN_CODES
            elif allowed(policy, caller):
                ok = status not in (401, 403) and status < 500
            else:
                ok = status == 403
            if not ok:
                wrong.append(f"{service} {method.upper()} {path} as {caller}: {status}")
    assert not wrong, "\n".join(wrong)
    assert cells >= len(CALLERS) * len(CONTRACT_ACCESS)
