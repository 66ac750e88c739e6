"""Persistence: the tables of the lottery service."""
