"""The HTTP layer: thin views over the use cases."""
