"""Shared by every test folder. Helpers are imported by package (`from tests.processes import ...`), so any
subset of folders collects together, in any order."""

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed: on a loaded machine (several test workers on two cores) input
# generation and examples may be slow, and that must not fail them.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")
