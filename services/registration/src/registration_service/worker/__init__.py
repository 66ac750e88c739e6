"""The Celery side: decision tasks, and the relay that publishes outcomes and sweeps stragglers."""
