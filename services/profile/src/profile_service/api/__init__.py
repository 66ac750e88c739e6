"""The HTTP layer of the profile service."""
