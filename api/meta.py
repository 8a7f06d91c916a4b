"""Vercel function for the meta group; vercel.json rewrites its public paths here, unchanged."""

from api import _layer  # noqa: F401  (first: puts the shared layer on sys.path)
from functions.meta.app import app

__all__ = ["app"]
