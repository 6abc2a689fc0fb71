"""Wakes of followed tasks: one that comes before its task is followed is kept for it."""

from __future__ import annotations

from rendergate.services.context import EARLY_WAKES, Wakeups
from rendergate.services.ports import Wake


def test_a_wake_before_the_task_is_followed_is_not_lost() -> None:
    wakeups = Wakeups()
    wakeups.wake(7, Wake.WEBHOOK)  # the job ended between the submit and track steps
    heard: list[Wake] = []
    assert wakeups.follow(7, heard.append) == {Wake.WEBHOOK}
    wakeups.forget(7)
    assert wakeups.follow(7, heard.append) == set()  # used once
    assert heard == []


def test_a_wake_for_a_followed_task_reaches_its_follower_with_each_reason() -> None:
    wakeups = Wakeups()
    heard: list[Wake] = []
    wakeups.follow(8, heard.append)
    wakeups.wake(8, Wake.WEBHOOK)
    wakeups.wake(8, Wake.CANCEL)
    wakeups.wake_all(Wake.RECONNECTED)
    assert heard == [Wake.WEBHOOK, Wake.CANCEL, Wake.RECONNECTED]
    wakeups.forget(8)
    wakeups.wake(8, Wake.WEBHOOK)
    assert heard == [Wake.WEBHOOK, Wake.CANCEL, Wake.RECONNECTED]  # kept as early instead


def test_early_wakes_for_other_processes_tasks_are_bounded() -> None:
    wakeups = Wakeups()
    for task_id in range(EARLY_WAKES + 10):
        wakeups.wake(task_id, Wake.WEBHOOK)
    assert wakeups.follow(0, lambda _: None) == set()  # the oldest aged out
    assert wakeups.follow(EARLY_WAKES + 9, lambda _: None) == {Wake.WEBHOOK}
