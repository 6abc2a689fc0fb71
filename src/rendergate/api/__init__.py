"""The HTTP edge: FastAPI routes, schemas and the one place errors become status codes."""
