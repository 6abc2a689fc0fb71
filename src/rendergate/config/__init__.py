"""Settings (settings.py, from RENDERGATE_* variables and a TOML file), the client-facing
ones (clients.py), the request limits (requests.py), their value types (values.py), and
the apps file (apps_file.py)."""
