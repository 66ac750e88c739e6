import time

import jwt
import pytest
from servicekit.auth import AuthError, Role, TokenVerifier, issue_token

SECRET = "test-secret-with-enough-length-for-hs256"


def test_admin_acts_for_anyone_and_student_only_for_self():
    verifier = TokenVerifier(SECRET)
    admin = verifier.verify(issue_token(SECRET, "ops", Role.ADMIN))
    student = verifier.verify_header("Bearer " + issue_token(SECRET, 42, "student"))
    admin.ensure_admin()
    admin.ensure_can_act_for(7)
    student.ensure_can_act_for(42)
    with pytest.raises(AuthError) as other:
        student.ensure_can_act_for(43)
    with pytest.raises(AuthError) as not_admin:
        student.ensure_admin()
    assert (other.value.status, not_admin.value.status) == (403, 403)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Token abc", "invalid_token"),
        ("Bearer not-a-jwt", "invalid_token"),
        (
            "Bearer " + issue_token("another-secret-of-sufficient-size!!", 1, "admin"),
            "invalid_token",
        ),
        ("Bearer " + issue_token(SECRET, 1, "admin", ttl_seconds=-10), "token_expired"),
        (
            "Bearer " + jwt.encode({"sub": "1", "role": "root", "exp": time.time() + 60}, SECRET),
            "invalid_token",
        ),
        ("Bearer " + jwt.encode({"sub": "1", "exp": time.time() + 60}, SECRET), "invalid_token"),
    ],
)
def test_bad_tokens_are_401(header, code):
    with pytest.raises(AuthError) as refused:
        TokenVerifier(SECRET).verify_header(header)
    assert (refused.value.status, refused.value.code) == (401, code)
