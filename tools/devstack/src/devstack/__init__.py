"""Development and test plumbing: real Redis and PostgreSQL servers the project starts itself."""
