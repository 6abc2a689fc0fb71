"""`make test-fast`'s guard: while an integration test not marked slow runs, starting a
process fails, naming the test and the mark; otherwise nothing is in the way."""

from __future__ import annotations

import pytest

from support import fast


def test_a_process_started_by_a_guarded_test_is_refused_naming_the_mark() -> None:
    fast._started[:] = ["tests/integration/test_x.py::test_y"]
    try:
        with pytest.raises(RuntimeError, match=r"test_y starts a process .* mark it"):
            fast._audit("subprocess.Popen", ("rendergate", ["rendergate", "keys"]))
        fast._audit("open", ("/tmp/x", "r"))  # other events pass
    finally:
        fast._started.clear()
    fast._audit("subprocess.Popen", ("rendergate", ["rendergate", "keys"]))  # unguarded
