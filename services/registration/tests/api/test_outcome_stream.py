"""The outcome stream ends cleanly when Redis goes away; the client resumes from its last id."""

from registration_service.api.app import create_app
from registration_service.settings import RegistrationSettings
from registration_testkit import SECRET, bearer


def test_a_stream_whose_redis_is_gone_ends_instead_of_failing(database_url):
    unreachable = "redis://127.0.0.1:1/0"
    settings = RegistrationSettings(
        database_url=database_url, redis_url=unreachable, jwt_secret=SECRET
    )
    client = create_app(settings).test_client()
    response = client.get("/v1/students/7/outcomes", headers=bearer(7))
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.get_data(as_text=True) == "retry: 2000\n\n"  # then the stream ends
