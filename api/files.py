"""Vercel function for the files group; vercel.json rewrites its public paths here, unchanged."""

from api import _layer  # noqa: F401  (first: puts the shared layer on sys.path)
from functions.files.app import app

__all__ = ["app"]
