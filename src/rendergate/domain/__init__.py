"""The pure core: task model, state machine, app definitions and errors. No I/O, no frameworks."""
