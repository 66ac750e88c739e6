"""Group commit: callers arriving during a flush are flushed together; each gets its own answer."""

from __future__ import annotations

import threading
import time

import pytest
from servicekit.group_commit import FlushInterrupted, GroupCommit


class Store:
    """A flush that takes a while, as a commit does, and records the groups it was given."""

    def __init__(self, seconds: float = 0.05, refuse: object = None) -> None:
        self.seconds = seconds
        self.refuse = refuse
        self.groups: list[list[int]] = []

    def __call__(self, items: list[int]) -> list[object]:
        self.groups.append(list(items))
        time.sleep(self.seconds)
        if self.refuse in items:
            raise OSError("disk full")
        return [ValueError(i) if i < 0 else i * 10 for i in items]


def call_all(commit: GroupCommit, items: list[int]) -> dict[int, object]:
    answers: dict[int, object] = {}

    def call(item: int) -> None:
        try:
            answers[item] = commit(item)
        except Exception as exc:
            answers[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    return answers


def test_an_idle_caller_flushes_alone_at_once():
    store = Store(seconds=0)
    commit = GroupCommit(store)
    started = time.monotonic()
    assert commit(3) == 30
    assert store.groups == [[3]] and time.monotonic() - started < 1


def test_callers_arriving_during_a_flush_share_the_next_one_in_arrival_order():
    store = Store()
    answers = call_all(GroupCommit(store), list(range(40)))
    assert answers == {i: i * 10 for i in range(40)}
    assert len(store.groups) < 10  # not one flush per caller
    flushed = [item for group in store.groups for item in group]
    assert sorted(flushed) == list(range(40))  # each exactly once


def test_a_group_keeps_the_order_its_callers_queued_in():
    release = threading.Event()
    groups: list[list[int]] = []

    def flush(items: list[int]) -> list[int]:
        groups.append(list(items))
        release.wait(timeout=5)  # the first group holds the flush while the others queue
        return items

    def until(condition) -> None:
        deadline = time.monotonic() + 5
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.001)

    commit = GroupCommit(flush)
    threads = []
    for item in range(6):
        threads.append(threading.Thread(target=commit, args=(item,)))
        threads[-1].start()
        if item == 0:
            until(lambda: groups)  # the first caller is flushing, alone
        else:
            until(lambda item=item: len(commit._queued) == item)  # queued, in turn
    release.set()
    for thread in threads:
        thread.join(timeout=5)
    assert groups == [[0], [1, 2, 3, 4, 5]]


def test_a_group_is_never_larger_than_its_bound():
    store = Store()
    call_all(GroupCommit(store, max_group=5), list(range(30)))
    assert max(len(group) for group in store.groups) <= 5


def test_a_refused_item_fails_alone():
    answers = call_all(GroupCommit(Store()), [1, -2, 3, 4, 5])
    assert isinstance(answers.pop(-2), ValueError)
    assert answers == {1: 10, 3: 30, 4: 40, 5: 50}  # the others are stored regardless


def test_a_failed_flush_fails_its_whole_group_and_no_other():
    store = Store(refuse=7)
    answers = call_all(GroupCommit(store), list(range(3, 12)))
    failed_group = next(group for group in store.groups if 7 in group)
    for item, answer in answers.items():
        if item in failed_group:
            assert isinstance(answer, OSError)
        else:
            assert answer == item * 10
    assert len(failed_group) < len(answers)


@pytest.mark.parametrize("callers", [1, 2, 17])
def test_every_caller_returns(callers):
    answers = call_all(GroupCommit(Store(seconds=0.01)), list(range(callers)))
    assert len(answers) == callers


class Interrupted(BaseException):
    """What gevent.Timeout or GreenletExit look like to the flushing caller."""


def test_an_interrupted_flush_answers_its_group_and_hands_on_flushing():
    calls = {"n": 0}

    def flush(items: list[int]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Interrupted
        time.sleep(0.05)
        return [i * 10 for i in items]

    commit = GroupCommit(flush)
    answers: dict[int, object] = {}

    def call(item: int) -> None:
        try:
            answers[item] = commit(item)
        except BaseException as exc:  # the flusher sees Interrupted, the others FlushInterrupted
            answers[item] = exc

    threads = [threading.Thread(target=call, args=(item,)) for item in range(6)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in threads)  # nobody waits forever
    assert answers[0] == 0
    interrupted = [a for a in answers.values() if isinstance(a, BaseException)]
    assert any(isinstance(a, Interrupted) for a in interrupted)
    assert all(isinstance(a, Interrupted | FlushInterrupted) for a in interrupted)
    assert commit(7) == 70  # and the next caller flushes as usual


def test_after_runs_once_per_group_with_its_results():
    seen: list[tuple[list[int], list[object]]] = []
    commit = GroupCommit(Store(), after=lambda items, results: seen.append((items, list(results))))
    call_all(commit, list(range(10)))
    assert sorted(i for items, _ in seen for i in items) == list(range(10))
    assert all(results == [i * 10 for i in items] for items, results in seen)
