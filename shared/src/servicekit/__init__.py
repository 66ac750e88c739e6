"""The small kit every service uses: settings, auth, errors, events, outbox, Celery, logging.

Nothing in here knows about programs, classes or profiles; a rule that only one service needs
lives in that service.
"""
