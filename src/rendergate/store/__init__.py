"""Task storage: the TaskStore port, its SQL adapter and an in-memory fake."""
