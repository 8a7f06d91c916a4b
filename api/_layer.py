"""Makes the shared layer importable inside a Vercel function, before any function app is imported.

Why: Vercel bundles the repository as it is (layers/, functions/, shared/ included) and installs the
dependencies, but not this package itself, so `layers/core` goes on sys.path here, ahead of anything an
install might have put there. Files in api/ whose names start with `_` are not functions themselves.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "layers" / "core") not in sys.path:
    sys.path.insert(0, str(ROOT / "layers" / "core"))
os.environ.setdefault("QWEN_SERVER_SHARED_DIR", str(ROOT / "shared"))
