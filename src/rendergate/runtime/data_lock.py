"""One rendergate process per SQLite data directory.

SQLite (and DBOS on it) allows one process: a second one on the same folder would resume the
first one's running tasks and run them twice. The process holding the database takes an
exclusive lock on `<data dir>/rendergate.lock` before it touches anything else, and keeps it
until it closes; the operating system lets go of it when the process dies, however it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from rendergate.domain.errors import ConfigError

LOCK_FILE = "rendergate.lock"
ADVICE = (
    "Stop it, or give this one another RENDERGATE_DATA_DIR, or use PostgreSQL "
    "(RENDERGATE_DATABASE_URL) to run several"
)


@contextlib.contextmanager
def holding(data_dir: Path, *, advice: str = ADVICE) -> Iterator[None]:
    """Holds the data directory's lock; ConfigError naming the holder, and what to do,
    when it is taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(
                f"another rendergate process (pid {holder}) is using {data_dir.resolve()}: "
                f"with SQLite only one may run there. {advice}"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
