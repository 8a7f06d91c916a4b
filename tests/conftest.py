"""Shared by every test folder: makes the helper modules beside this file importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, settings

# Property tests check behaviour, not speed: on a loaded machine (several test workers on two cores) input
# generation and examples may be slow, and that must not fail them.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")
