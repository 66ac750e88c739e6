"""The lottery's rules in plain Python: no Flask, SQLAlchemy, Celery or Redis."""
