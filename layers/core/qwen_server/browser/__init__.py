"""Signing in with a real (headless, system) Chromium to capture a browser session for an account."""
