"""The committed OpenAPI documents match the code; regenerate with ``make openapi``."""

import json

import pytest
from devstack.openapi import SERVICES, committed_path, generate


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_committed_openapi_matches_the_code(name):
    assert committed_path(name).exists(), "run `make openapi` and commit the result"
    assert json.loads(committed_path(name).read_text()) == json.loads(generate(name)), (
        f"services/{name}/openapi.json is stale: run `make openapi` and commit it"
    )


def test_the_contract_paths_are_documented():
    paths = json.loads(committed_path("registration").read_text())["paths"]
    for path in [
        "/v1/programs",
        "/v1/programs/{program_id}/timeslots",
        "/v1/programs/{program_id}/classes",
        "/v1/programs/{program_id}/catalog",
        "/v1/registration-types",
        "/v1/sections/{section_id}/students",
        "/v1/programs/{program_id}/students/{student_id}/sections",
        "/v1/programs/{program_id}/students/{student_id}/classes",
        "/v1/programs/{program_id}/students/{student_id}/priority",
    ]:
        assert path in paths, path
