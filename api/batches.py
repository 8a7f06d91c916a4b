"""Vercel function for the batches group and its cron tick; vercel.json rewrites its public paths here."""

from api import _layer  # noqa: F401  (first: puts the shared layer on sys.path)
from functions.batches.app import app

__all__ = ["app"]
