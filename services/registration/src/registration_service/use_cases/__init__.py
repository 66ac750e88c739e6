"""Use cases: ``(session, plain values) -> result``. They flush, never commit: the entry point
(a view or a task) owns the transaction."""
