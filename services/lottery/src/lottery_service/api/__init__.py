"""The HTTP layer of the lottery service."""
