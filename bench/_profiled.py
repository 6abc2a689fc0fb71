"""Runs `rendergate ARGS...` under yappi (CPU clock, every thread) and, once it exits (a
SIGTERM ends it cleanly), writes each function's own CPU time to OUT, one JSON list a line:
[module file, function, own CPU s, calls], and the whole profile to OUT.pstat (pstats).
Used by task_profile.py.

    python bench/_profiled.py OUT serve --port 8000
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

import yappi


def main() -> None:
    out, args = sys.argv[1], sys.argv[2:]
    yappi.set_clock_type("cpu")
    yappi.start(builtins=True)
    from rendergate.cli.main import main as rendergate

    sys.argv = ["rendergate", *args]

    def exit_cleanly(*_: Any) -> None:  # uvicorn raises the SIGTERM again once it has stopped
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        rendergate()
    except SystemExit:
        pass
    finally:
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.save(out + ".pstat", type="pstat")  # for pstats: who calls what
        with open(out, "w") as sink:
            for stat in stats:
                sink.write(json.dumps([stat.module, stat.name, stat.tsub, stat.ncall]) + "\n")


if __name__ == "__main__":
    main()
