"""Write each service's generated OpenAPI document to ``services/<name>/openapi.json``.

``make openapi`` runs this; a test fails when a committed document drifts from the code.
"""

from __future__ import annotations

import json
import tempfile
from importlib import import_module
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
SERVICES = {
    "registration": (
        "registration_service.api.app",
        "registration_service.settings",
        "RegistrationSettings",
    ),
    "profile": ("profile_service.api.app", "profile_service.settings", "ProfileSettings"),
    "lottery": ("lottery_service.api.app", "lottery_service.settings", "LotterySettings"),
    "identity": ("identity_service.api.app", "identity_service.settings", "IdentitySettings"),
}


def generate(name: str) -> str:
    """The service's OpenAPI document as committed: sorted keys, two-space indent."""
    app_module, settings_module, settings_class = SERVICES[name]
    settings_type = getattr(import_module(settings_module), settings_class)
    with tempfile.TemporaryDirectory() as scratch:
        settings = settings_type(
            database_url=f"sqlite:///{scratch}/openapi.sqlite3", keys_dir=f"{scratch}/keys"
        )
        app = import_module(app_module).create_app(settings)
        document = app.test_client().get("/openapi.json").get_json()
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def committed_path(name: str) -> Path:
    return ROOT / "services" / name / "openapi.json"


def main() -> None:
    for name in SERVICES:
        committed_path(name).write_text(generate(name))
        print(f"wrote {committed_path(name).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
