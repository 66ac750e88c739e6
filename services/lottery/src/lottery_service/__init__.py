"""The lottery service: stars, priorities and lottery runs."""
