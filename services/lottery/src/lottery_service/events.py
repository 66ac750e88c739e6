"""The lottery service's event contract. It publishes and consumes nothing yet: lottery runs and
their commits (``lottery.run.committed.v1``) and the catalog it will read are still to come.
When they do, each gets its stream, its event type and a payload schema here, as in the
registration and profile services' ``events.py``, and a golden example under
``tests/contracts/``.
"""

from __future__ import annotations

PRODUCER = "lottery"

PUBLISHES: tuple[()] = ()
CONSUMES: tuple[()] = ()
