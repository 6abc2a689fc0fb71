"""The emulators' own tests: the emulator fixtures are rendergate's tests' (tests/support)."""

from support.emulators import aliyun, emulator

__all__ = ["aliyun", "emulator"]
