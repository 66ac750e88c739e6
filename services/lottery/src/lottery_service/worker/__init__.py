"""The lottery worker (runs) and relay (outbox, other services' events)."""
