"""The `rendergate` command (main.py), its client commands (client.py), keys, the
operator's commands (ops.py) and the checks before a process starts (starting.py)."""
