"""The neutral centre: one request model, one event stream, one error tree."""
