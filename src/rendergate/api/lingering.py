"""A staged close, so that a client still sending its request reads the answer to it.

A server that closes a connection while the client's bytes are still arriving makes its
kernel send a reset, which can erase the response (a 408, 413 or 431) before the client
has read it. RFC 9112 §9.6 asks for a close in stages instead, as nginx and Apache do:
send the response and end our side of the stream, then read and discard what the client
still sends until it closes its side, goes quiet, or a bound of time or bytes is reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

LINGER_IDLE_S = 0.5  # the client has sent nothing for this long: it has stopped
LINGER_TOTAL_S = 2.0  # at most this long for any client, which bounds a connection's stay
LINGER_BYTES = 4 * 1024 * 1024  # or this much discarded, whichever comes first


class StagedCloseTransport(asyncio.Transport):
    """Wraps the server's transport; its `close` ends the write side and lingers while
    `still_sending()` says the client's request has not all arrived, else closes at once."""

    def __init__(
        self,
        inner: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        still_sending: Callable[[], bool],
    ) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._still_sending = still_sending
        self._lingering = False
        self._discarded = 0
        self._idle: asyncio.TimerHandle | None = None
        self._cap: asyncio.TimerHandle | None = None

    @property
    def lingering(self) -> bool:
        return self._lingering

    def close(self) -> None:
        if self._lingering or self._inner.is_closing():
            return
        if not (self._still_sending() and self._inner.can_write_eof()):
            self._inner.close()
            return
        self._lingering = True
        self._inner.write_eof()  # sent once what is buffered has been sent
        self._inner.resume_reading()  # the request's reader may have paused it
        self._idle = self._loop.call_later(LINGER_IDLE_S, self.close_now)
        self._cap = self._loop.call_later(LINGER_TOTAL_S, self.close_now)

    def discard(self, data: bytes) -> None:
        """What the client sent after our answer: counted, dropped, and its idle clock reset."""
        self._discarded += len(data)
        if self._discarded > LINGER_BYTES:
            self.close_now()
        elif self._idle is not None:
            self._idle.cancel()
            self._idle = self._loop.call_later(LINGER_IDLE_S, self.close_now)

    def close_now(self) -> None:
        self.forget_timers()
        self._inner.close()

    def forget_timers(self) -> None:
        for timer in (self._idle, self._cap):
            if timer is not None:
                timer.cancel()
        self._idle = self._cap = None

    def is_closing(self) -> bool:
        return self._lingering or self._inner.is_closing()

    def abort(self) -> None:
        self.forget_timers()
        self._inner.abort()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._lingering:  # as a closed transport does, it drops a late write
            self._inner.write(data)

    def write_eof(self) -> None:
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        if not self._lingering:  # a lingering connection must go on draining
            self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)
