"""Fixtures every test directory shares: the real Redis and PostgreSQL servers."""

pytest_plugins = ["devstack.pytest_plugin"]
