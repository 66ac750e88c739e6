"""The web's half of the rush path: validate a request, store it with the others that arrived
meanwhile (one insert, one commit), then ring the partitions the group touched.

No Flask here: the app factory builds one :class:`RequestIntake` per process and the view calls
it. Each caller is answered only after its own row is committed; when a group cannot be stored,
every caller in it gets :class:`StorageUnavailable` (a 503) and nothing of theirs was kept, so a
retry with the same Idempotency-Key is safe.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from servicekit.group_commit import GroupCommit
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from registration_service.messaging import Doorbells
from registration_service.use_cases.requests import (
    IdempotencyKeyReused,
    NewRequest,
    Submitted,
    check_or_replay,
    submit_many,
)

log = logging.getLogger(__name__)


class StorageUnavailable(Exception):
    """The database did not store the group this request was in; nothing of it was kept."""


class RequestIntake:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        doorbells: Doorbells,
        partitions: int,
        max_group: int = 256,
    ) -> None:
        self.sessions = sessions
        self.doorbells = doorbells
        self.partitions = partitions
        self.group = GroupCommit(self._store, max_group)

    def submit(self, new: NewRequest) -> Submitted:
        """Store ``new`` (or find the request stored earlier under its key) and ring its
        partition. Raises NotFound or InvalidInput (nothing stored), IdempotencyKeyReused or
        StorageUnavailable."""
        with self.sessions() as session:  # a connection only if the sections are not known yet
            replayed = check_or_replay(session, new)
        return replayed if replayed is not None else self.group(new)

    def _store(self, news: list[NewRequest]) -> Sequence[Submitted | Exception]:
        try:
            results = self._insert(news)
        except IntegrityError:  # a row the checks passed was refused: store each one alone
            if len(news) == 1:
                raise StorageUnavailable("the request could not be stored") from None
            return [self._store_alone(new) for new in news]
        self.doorbells.ring(r.partition for r in results if isinstance(r, Submitted) and r.created)
        return results

    def _store_alone(self, new: NewRequest) -> Submitted | Exception:
        try:
            (result,) = self._store([new])
        except Exception as exc:
            return exc
        return result

    def _insert(self, news: list[NewRequest]) -> list[Submitted | IdempotencyKeyReused]:
        """One transaction; a connection the server dropped is retried once on a fresh one
        (the pool does not ping before every checkout)."""
        for attempt in (1, 2):
            try:
                with self.sessions() as session, session.begin():
                    return submit_many(session, news, partitions=self.partitions)
            except IntegrityError:
                raise
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    log.info("database connection dropped; storing the group again")
                    continue
                log.warning("could not store %d requests", len(news), exc_info=True)
                raise StorageUnavailable("the database is unavailable") from exc
        raise AssertionError("unreachable")
