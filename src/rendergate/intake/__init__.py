"""Bringing task inputs in from outside: fetching URLs safely, before anything else reads them."""
