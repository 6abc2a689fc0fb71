"""Emulators of provider APIs: real HTTP servers on 127.0.0.1 for tests and benchmarks.

Each one is written from the provider's documents (see docs/providers.md), so the adapters are
tested against the wire format rather than against our own idea of it. A distribution of
their own (rendergate-emulators, emulators/ in the repository), outside the rendergate wheel;
they import nothing from rendergate.
"""
