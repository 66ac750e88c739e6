"""Persistence: the tables of the profile service."""
