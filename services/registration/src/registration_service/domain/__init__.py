"""Registration rules in plain Python: no Flask, SQLAlchemy or Celery in this package."""
