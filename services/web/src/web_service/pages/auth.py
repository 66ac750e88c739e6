"""Sign up, verify the address, sign in and out, reset a password: through the identity
service. The tokens it returns are stored server-side; the browser gets a session cookie."""

from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as WerkzeugResponse

from web_service.pages.common import caller, field_errors
from web_service.sessions import BrowserSession, SessionStore, expires_at

blp = Blueprint("auth", __name__)
COOKIE = "web_session"


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("student.home")
    return urlparse(target)._replace(scheme="", netloc="").geturl()


@blp.route("/signin", methods=["GET", "POST"])
def signin() -> str | WerkzeugResponse:
    errors: dict[str, list[str]] = {}
    email = request.form.get("email", "")
    if request.method == "POST":
        answer = caller().backend.anonymous(
            "identity",
            "POST",
            "/v1/sessions",
            json={"email": email, "password": request.form.get("password", "")},
            headers={"X-Forwarded-For": request.remote_addr or ""},
        )
        if answer.status_code == 201:
            return _start_session(answer.json(), email)
        errors = field_errors(answer)
        if answer.status_code == 429:
            wait = answer.headers.get("Retry-After", "a few")
            errors = {"": [f"Too many failed attempts. Try again in {wait} seconds."]}
    return render_template(
        "signin.html", errors=errors, email=email, next=request.args.get("next", "")
    )


def _start_session(tokens: dict, email: str) -> WerkzeugResponse:
    store: SessionStore = current_app.extensions["web.store"]
    backend = caller().backend
    me = backend.anonymous(
        "identity",
        "GET",
        "/v1/accounts/me",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    ).json()
    session = BrowserSession(
        account_id=me["id"],
        role=me["role"],
        email=me["email"],
        name=me["display_name"],
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        access_expires_at=expires_at(tokens["expires_in"]),
    )
    session_id = store.create(session)
    response = redirect(_safe_next(request.args.get("next")))
    settings = current_app.extensions["web.settings"]
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.session_seconds,
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure,
    )
    return response


@blp.route("/signout", methods=["POST"])
def signout() -> WerkzeugResponse:
    session = caller().session
    if session is not None:
        caller().backend.anonymous(
            "identity", "POST", "/v1/sessions/revoke", json={"refresh_token": session.refresh_token}
        )
        store: SessionStore = current_app.extensions["web.store"]
        store.delete(g.session_id)
    response = redirect(url_for("student.home"))
    response.delete_cookie(COOKIE)
    return response


@blp.route("/signup", methods=["GET", "POST"])
def signup() -> str:
    errors: dict[str, list[str]] = {}
    form = {
        "email": request.form.get("email", ""),
        "display_name": request.form.get("display_name", ""),
    }
    if request.method == "POST":
        answer = caller().backend.anonymous(
            "identity",
            "POST",
            "/v1/accounts",
            json={**form, "password": request.form.get("password", "")},
        )
        if answer.status_code == 201:
            return render_template("check_email.html", email=answer.json()["email"])
        errors = field_errors(answer)
    return render_template("signup.html", errors=errors, form=form)


@blp.route("/verify")
def verify() -> str:
    token = request.args.get("token", "")
    answer = caller().backend.anonymous(
        "identity", "POST", "/v1/accounts/verify", json={"token": token[:200]}
    )
    return render_template("verified.html", ok=answer.status_code == 200)


@blp.route("/reset", methods=["GET", "POST"])
def reset() -> str:
    token = request.values.get("token", "")
    errors: dict[str, list[str]] = {}
    if request.method == "POST" and not token:
        caller().backend.anonymous(
            "identity", "POST", "/v1/password-resets", json={"email": request.form.get("email", "")}
        )
        return render_template("reset.html", sent=True, token="", errors={})
    if request.method == "POST":
        answer = caller().backend.anonymous(
            "identity",
            "POST",
            "/v1/password-resets/confirm",
            json={"token": token[:200], "password": request.form.get("password", "")},
        )
        if answer.status_code == 200:
            return render_template("reset.html", done=True, token="", errors={})
        errors = field_errors(answer)
    return render_template("reset.html", token=token, errors=errors)
