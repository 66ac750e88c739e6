"""What the lottery service does, over its database: no Flask (the worker calls it too)."""
