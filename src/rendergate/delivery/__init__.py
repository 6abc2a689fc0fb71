"""Webhooks to our clients: signing them, and sending them past the SSRF guard."""
