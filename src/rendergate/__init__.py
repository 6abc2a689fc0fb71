"""rendergate: one durable async task API in front of ComfyUI clouds and local engines."""

__version__ = "0.1.0"
