"""Persistence: the engine, the session factory and the tables."""
