"""servicekit's core and the workers load none of the web stack (Flask is the ``web`` extra).

Checked in a fresh interpreter, since this test process has long since imported Flask; the
import-linter contract in the root ``pyproject.toml`` says the same statically.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import servicekit

ROOT = Path(__file__).resolve().parents[2]
WEB_PREFIX = "flask_"
WEB_PACKAGES = ("flask", "flask_smorest", "webargs", "werkzeug")
WORKER_MODULES = [
    "registration_service.worker.tasks",
    "registration_service.worker.relay",
    "profile_service.worker.relay",
]


def core_modules() -> list[str]:
    return sorted(
        f"servicekit.{info.name}"
        for info in pkgutil.iter_modules(servicekit.__path__)
        if not info.name.startswith(WEB_PREFIX)
    )


def loaded_after_importing(module: str) -> list[str]:
    """The web packages in ``sys.modules`` after a fresh interpreter imports ``module``."""
    script = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in {WEB_PACKAGES!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_every_core_module_and_worker_imports_without_flask():
    modules = [*core_modules(), *WORKER_MODULES]
    loaded = {module: found for module in modules if (found := loaded_after_importing(module))}
    assert not loaded, f"these load the web stack: {loaded}"


def test_the_web_modules_are_the_ones_that_need_flask():
    assert "flask" in loaded_after_importing("servicekit.flask_app")


def test_the_import_linter_contract_lists_every_core_module():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if "servicekit.errors" in c["source_modules"])
    assert sorted(contract["source_modules"]) == core_modules()
