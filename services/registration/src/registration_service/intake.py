"""The web's half of the rush path: validate a request, store it with the others that arrived
meanwhile (one insert, one commit), then ring the partitions the group touched.

No Flask here: the app factory builds one :class:`RequestIntake` per process and the view calls
it. Each caller is answered only after its own row is committed. When the database cannot store a
group, every caller in it gets :class:`StorageUnavailable` (a 503) and nothing of theirs was
kept, so a retry with the same Idempotency-Key is safe; when it refuses one row of a group, each
request is stored alone and only the refused one fails. Partitions are rung once the next group
is under way, so a slow broker never holds up a commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from servicekit.group_commit import GroupCommit
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
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

BROKER_BACKOFF_SECONDS = 5.0


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
        self.group = GroupCommit(self._store, max_group, after=self._ring)
        self._broker_down_until = 0.0

    def submit(self, new: NewRequest) -> Submitted:
        """Store ``new`` (or find the request stored earlier under its key) and ring its
        partition. Raises NotFound or InvalidInput (nothing stored), IdempotencyKeyReused or
        StorageUnavailable."""
        with self.sessions() as session:  # a connection only if the sections are not known yet
            replayed = check_or_replay(session, new)
        return replayed if replayed is not None else self.group(new)

    def _store(self, news: list[NewRequest]) -> Sequence[Submitted | Exception]:
        try:
            return self._insert(news)
        except IntegrityError:  # a row the checks passed was refused: store each one alone
            if len(news) == 1:
                raise StorageUnavailable("the request could not be stored") from None
            return [self._store_alone(new) for new in news]

    def _store_alone(self, new: NewRequest) -> Submitted | Exception:
        try:
            (result,) = self._store([new])
        except Exception as exc:
            return exc
        return result

    def _insert(self, news: list[NewRequest]) -> list[Submitted | IdempotencyKeyReused]:
        """One transaction; a connection the server dropped is retried once on a fresh one
        (the pool does not ping before every checkout). The requests keep their ids, so a
        commit that went through before its answer was lost is found, not stored again."""
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
            except SQLAlchemyError as exc:  # no connection to be had: the pool timed out
                log.warning("could not store %d requests", len(news), exc_info=True)
                raise StorageUnavailable("no database connection available") from exc
        raise AssertionError("unreachable")

    def _ring(self, _news: list[NewRequest], results: Sequence[object]) -> None:
        """Ring the partitions of the group's queued requests, after the next group is under
        way. While the broker is unreachable, stop trying for a few seconds: the requests are
        stored, and the sweeper rings for them."""
        if time.monotonic() < self._broker_down_until:
            return
        partitions = (r.partition for r in results if isinstance(r, Submitted) and r.queued)
        if not self.doorbells.ring(partitions):
            self._broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
