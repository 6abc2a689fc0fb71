"""Which tasks changed, told to whoever in this process waits on them (event streams,
`Prefer: wait` creates, the webhook delivery loop) or keeps a copy (services/cache.py).

The store tells it of its own commits; on PostgreSQL the NOTIFY each write sends tells it
of every other process's (runtime/pg_wakes.py). A waiter also re-reads now and then,
so a notification lost while the listener reconnects costs a little delay, never an event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol

from rendergate.domain.task import Task


class Copies(Protocol):
    """Tasks kept in this process, to be read again once they changed."""

    def forget(self, task_id: int) -> None: ...

    def forget_all(self) -> None: ...


class Changes:
    def __init__(self) -> None:
        self._watchers: dict[int, set[asyncio.Event]] = {}
        self._copies: list[Copies] = []
        self.deliveries = asyncio.Event()  # set when a webhook delivery was written
        self._on_end: list[Callable[[Task], None]] = []
        self._catch_up: Callable[[], Awaitable[bool]] | None = None

    def catch_up_by(self, catch_up: Callable[[], Awaitable[bool]]) -> None:
        """How `caught_up` learns that changes made elsewhere have all been heard."""
        self._catch_up = catch_up

    async def caught_up(self) -> bool:
        """True once every change committed before the call has been heard here, so a
        copy not forgotten since is current; False when that cannot be known now. In one
        process every change is heard as it commits; across processes (PostgreSQL) it
        takes a round trip through the database (runtime/pg_rounds.py)."""
        return True if self._catch_up is None else await self._catch_up()

    def keep_current(self, copies: Copies) -> None:
        """Makes `copies` forget each task told changed from now on."""
        if copies not in self._copies:  # a Services copied with replace() keeps the same
            self._copies.append(copies)

    def publish(self, task_id: int, delivery: bool) -> None:
        for copies in self._copies:
            copies.forget(task_id)
        for event in self._watchers.get(task_id, ()):
            event.set()
        if delivery:
            self.deliveries.set()

    def on_end(self, listener: Callable[[Task], None]) -> None:
        """Calls `listener` with each task this process's writes finish (a batch's ending)."""
        self._on_end.append(listener)

    def no_end(self, listener: Callable[[Task], None]) -> None:
        self._on_end.remove(listener)

    def ended(self, task: Task) -> None:
        for listener in self._on_end:
            listener(task)

    def publish_all(self) -> None:
        """Everything may have changed (the listener reconnected)."""
        for copies in self._copies:
            copies.forget_all()
        for watchers in self._watchers.values():
            for event in watchers:
                event.set()
        self.deliveries.set()

    @contextlib.contextmanager
    def watching_all(self, task_ids: Iterable[int]) -> Iterator[asyncio.Event]:
        """One event set at each change of any of the tasks while inside (a batch's)."""
        event = asyncio.Event()
        ids = set(task_ids)
        for task_id in ids:
            self._watchers.setdefault(task_id, set()).add(event)
        try:
            yield event
        finally:
            for task_id in ids:
                watchers = self._watchers[task_id]
                watchers.discard(event)
                if not watchers:
                    del self._watchers[task_id]

    def watchers(self, task_id: int) -> int:
        """How many wait on the task now (long polls, streams, waiting creates)."""
        return len(self._watchers.get(task_id, ()))

    @contextlib.contextmanager
    def watching(self, task_id: int) -> Iterator[asyncio.Event]:
        """An event set at each change of the task while inside; clear it before reading."""
        event = asyncio.Event()
        self._watchers.setdefault(task_id, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers[task_id]
            watchers.discard(event)
            if not watchers:
                del self._watchers[task_id]
