"""Group commit: calls that arrive while a flush is running are flushed together, next.

A web process serving many requests at once (gevent greenlets or threads) pays for one
transaction, one commit and one fsync per group instead of per request. The first caller flushes
at once, alone, so an idle service adds no delay; while that flush waits on the database, the
callers that arrive queue up, and the oldest of them flushes up to ``max_group`` of them when it
is done. The baton
passes to a queued caller, so no caller flushes for others after its own answer is ready.

Works with threads and, monkey-patched, with gevent: it uses only ``threading`` primitives.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Call(Generic[T, R]):
    __slots__ = ("error", "finished", "item", "result", "wake")

    def __init__(self, item: T) -> None:
        self.item = item
        self.result: R | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Event()


class FlushInterrupted(RuntimeError):
    """The flush of this caller's group was interrupted (its greenlet killed, a timeout): the
    caller cannot know whether its item was stored."""


class GroupCommit(Generic[T, R]):
    """``flush(items)`` stores a group and returns one result (or exception) per item, in order;
    an exception it raises is every item's answer. ``after(items, results)``, if given, runs
    once the group's callers are answered and the next group is under way: work that must not
    hold up the next commit (ringing a broker, say)."""

    def __init__(
        self,
        flush: Callable[[list[T]], Sequence[R | BaseException]],
        max_group: int = 256,
        after: Callable[[list[T], Sequence[R | BaseException]], None] | None = None,
    ) -> None:
        self._flush = flush
        self._after = after
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queued: list[_Call[T, R]] = []
        self._flushing = False
        self.groups = 0  # flushes so far, for metrics and tests

    def __call__(self, item: T) -> R:
        call: _Call[T, R] = _Call(item)
        with self._lock:
            self._queued.append(call)
            if not self._flushing:
                self._flushing = True
                call.wake.set()  # nobody is flushing: this caller does, now
        call.wake.wait()
        if not call.finished:  # woken to flush; this call is in the group it takes
            self._flush_next_group()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _flush_next_group(self) -> None:
        with self._lock:
            group = self._queued[: self._max_group]
            del self._queued[: self._max_group]
        items = [call.item for call in group]
        results: Sequence[R | BaseException] | None = None
        try:
            results = self._flush(items)
            if len(results) != len(group):
                raise RuntimeError(f"flush gave {len(results)} results for {len(group)} items")
        except Exception as exc:  # every caller in the group gets the failure, each its own
            results = [_copy(exc) for _ in group]
        finally:
            # Even when the flush is interrupted (gevent.Timeout, GreenletExit), answer the
            # group and pass the flushing on, or every later caller would wait forever.
            if results is None:
                results = [FlushInterrupted("the group's flush was interrupted") for _ in group]
            self._finish(group, results)
        if self._after is not None:
            self._after(items, results)

    def _finish(self, group: list[_Call[T, R]], results: Sequence[R | BaseException]) -> None:
        self.groups += 1
        for call, result in zip(group, results, strict=True):
            if isinstance(result, BaseException):
                call.error = result
            else:
                call.result = result
            call.finished = True
        with self._lock:
            if self._queued:
                self._queued[0].wake.set()  # the oldest waiting caller flushes the next group
            else:
                self._flushing = False
        for call in group:
            call.wake.set()


def _copy(exc: Exception) -> Exception:
    """A fresh exception per caller, so raising it in many callers does not pile every
    caller's traceback onto one object."""
    try:
        fresh = copy.copy(exc)
    except Exception:
        return exc
    fresh.__cause__ = exc.__cause__
    fresh.__traceback__ = None
    return fresh
