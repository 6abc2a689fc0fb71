"""Image intake checks and the local CPU preview engine."""
