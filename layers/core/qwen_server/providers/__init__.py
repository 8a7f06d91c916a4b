"""Upstream providers: one module per kind, all behind `Provider`."""
