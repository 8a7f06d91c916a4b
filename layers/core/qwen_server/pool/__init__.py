"""Accounts: where they come from (`registry`) and which one serves a request (`pool`)."""
