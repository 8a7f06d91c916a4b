"""Vercel function for the audio group; vercel.json rewrites its public paths here, unchanged."""

from api import _layer  # noqa: F401  (first: puts the shared layer on sys.path)
from functions.audio.app import app

__all__ = ["app"]
