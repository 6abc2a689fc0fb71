"""Outbound connections: the address guard (guard.py) every connection to a URL a user
gave goes through."""
