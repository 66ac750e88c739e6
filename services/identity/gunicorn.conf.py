"""Read by gunicorn from its working directory (the image's WORKDIR): the web's log lines are JSON
objects with the request's X-Request-ID as ``correlation_id`` (servicekit.logging_setup)."""

import os

from servicekit.logging_setup import configure_logging

configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "identity-web")
