"""Threads that leave signals to the main thread. The kernel delivers a signal sent to the
process (^C's SIGINT, a kill's SIGTERM) to any thread that does not block it, but Python
acts on it only in the main thread, and only once that thread runs: a main thread blocked
on a helper thread's result never hears a ^C that landed in the helper. Threads started
inside `signals_to_main()` block those signals, so the kernel picks the main thread."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

# The signals a Python program handles; faults (SIGSEGV, ...) stay with the thread at fault.
HANDLED = frozenset(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM")
    if hasattr(signal, name)
)


@contextlib.contextmanager
def signals_to_main() -> Iterator[None]:
    """Threads started inside inherit a mask that blocks the handled signals; this thread's
    mask is restored on the way out, and a signal that arrived meanwhile is delivered then.
    Where there are no signal masks (Windows, which sends ^C to the main thread), a no-op."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
