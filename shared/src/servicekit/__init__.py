"""The small kit every service uses: settings, auth, errors, events, outbox, Celery, logging.

Nothing in here knows about programs, classes or profiles; a rule that only one service needs
lives in that service.

Two parts, told apart by name:
- the core, every module not named ``flask_*`` (settings, auth, access, the error and event
  envelopes, outbox, db, migrations, background loops, group commit, JSON body checks, schema
  fields, Celery defaults, logging): it never imports Flask, so a worker, a relay or a script
  loads none of the web stack;
- the web part, the ``flask_*`` modules (app factory, blueprints, auth, sessions per request,
  error handlers, health), installed with the ``servicekit[web]`` extra.
The import-linter contracts in the root ``pyproject.toml`` and
``shared/tests/test_core_is_flask_free.py`` hold the line.
"""
