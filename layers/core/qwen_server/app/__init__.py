"""ASGI apps: one per function group, all built from the same pieces."""
