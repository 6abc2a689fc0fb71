"""Webhooks to our clients, in one place: signing them (signing.py), sending them past the
address guard (sender.py), the delivery loop of each worker (loop.py) and its wiring
(runner.py), and the use cases behind a task's push routes (push.py); their rows live in
store/deliveries.py."""
