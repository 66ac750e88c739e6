"""Benchmark (b), an ESP-style synchronous baseline: the same checks, decided inside the HTTP
request while holding the section's row lock, answered only once decided."""

from __future__ import annotations

from flask import Flask, jsonify, request
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import SectionRow
from registration_service.settings import RegistrationSettings
from registration_service.use_cases.decisions import enroll
from servicekit.auth import TokenVerifier
from sqlalchemy import select


def create_app() -> Flask:
    settings = RegistrationSettings()
    _engine, sessions = make_session_factory(settings.database_url, pool_size=20, max_overflow=20)
    verifier = TokenVerifier(settings.jwt_secret)
    web = Flask(__name__)
    web.get("/healthz")(lambda: {"status": "ok"})

    @web.post("/v1/programs/<int:program_id>/registration-requests")
    def decide_now(program_id: int):
        verifier.verify_header(request.headers.get("Authorization"))
        body = request.get_json()
        with sessions() as session, session.begin():
            session.execute(
                select(SectionRow.id).where(SectionRow.id == body["section_id"]).with_for_update()
            )
            outcome = enroll(session, student_id=body["student_id"], section_id=body["section_id"])
        decision = outcome.decision
        return jsonify(
            status="accepted" if decision.accepted else "rejected", reason=decision.reason
        ), 200

    return web
