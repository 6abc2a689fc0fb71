"""Wakes of tracking loops: one that comes before its task's loop begins is kept for it."""

from __future__ import annotations

from rendergate.services.context import EARLY_WAKES, Wakeups
from rendergate.services.ports import Wake


def test_a_wake_before_the_loop_begins_is_not_lost() -> None:
    wakeups = Wakeups()
    wakeups.wake(7, Wake.WEBHOOK)  # the job ended between the submit and track steps
    event = wakeups.event_for(7)
    assert event.is_set() and wakeups.take(7) == {Wake.WEBHOOK}
    event.clear()
    assert not wakeups.event_for(7).is_set()  # used once


def test_a_wake_for_a_followed_task_sets_its_event_with_every_reason() -> None:
    wakeups = Wakeups()
    event = wakeups.event_for(8)
    wakeups.wake(8, Wake.WEBHOOK)
    wakeups.wake(8, Wake.CANCEL)
    assert event.is_set() and wakeups.take(8) == {Wake.WEBHOOK, Wake.CANCEL}
    wakeups.forget(8)
    assert not wakeups.event_for(8).is_set()


def test_early_wakes_for_other_processes_tasks_are_bounded() -> None:
    wakeups = Wakeups()
    for task_id in range(EARLY_WAKES + 10):
        wakeups.wake(task_id, Wake.WEBHOOK)
    assert not wakeups.event_for(0).is_set()  # the oldest aged out
    assert wakeups.event_for(EARLY_WAKES + 9).is_set()
