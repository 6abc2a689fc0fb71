"""The emulators' own tests: the emulator fixtures and the fast set's guard are rendergate's
tests' (tests/support)."""

from support.emulators import aliyun, emulator
from support.fast import _in_process_unless_slow

__all__ = ["_in_process_unless_slow", "aliyun", "emulator"]
