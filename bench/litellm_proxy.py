"""LiteLLM's proxy as a comparison point: its own venv (`.venv-litellm`, never the project's), one worker, one
model pointing at the same fake upstream as every other path.

The venv is created only when asked (`--with-litellm`); an existing one is used. Anything that stops LiteLLM
from starting is a printed note, never a failed benchmark.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.processes import REPO, Service, _spawn, free_port, wait_http

VENV = REPO / ".venv-litellm"
CONFIG = """model_list:
  - model_name: qwen3-max
    litellm_params:
      model: openai/qwen3-max
      api_base: {api_base}
      api_key: bench-key
litellm_settings:
  telemetry: false
"""


def binary() -> Path:
    return VENV / "bin" / "litellm"


def ensure_installed(create: bool) -> str | None:
    """None when LiteLLM is ready; otherwise why it is skipped."""
    if binary().exists():
        return None
    if not create:
        return "LiteLLM skipped: no .venv-litellm (pass --with-litellm to create it)"
    print("creating .venv-litellm and installing 'litellm[proxy]' (once; a few minutes)", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "litellm[proxy]"],
    ]
    for step in steps:
        if subprocess.run(step, check=False).returncode != 0:
            return f"LiteLLM skipped: `{' '.join(step[-3:])}` failed"
    return None if binary().exists() else "LiteLLM skipped: the install has no `litellm` command"


def version() -> str:
    """The installed LiteLLM's version, for the table."""
    done = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown version"


MASTER_KEY = "sk-" + secrets.token_hex(
    32
)  # LiteLLM refuses to start without one; the load generator sends it


def start(upstream_v1: str) -> Service | str:
    """LiteLLM's proxy with one worker (clients send `MASTER_KEY`), or why it did not start."""
    config = Path(tempfile.mkstemp(prefix="litellm-", suffix=".yaml")[1])
    config.write_text(CONFIG.format(api_base=upstream_v1))
    port = free_port()
    env = {
        "PATH": f"{VENV / 'bin'}:/usr/bin:/bin",
        "HOME": tempfile.mkdtemp(prefix="litellm-home-"),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list from the internet
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": MASTER_KEY,
    }
    process, log = _spawn(
        [
            str(binary()),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env,
        "litellm",
    )
    service = Service(process, port, log)
    try:
        wait_http(f"{service.url}/health/liveliness", process, timeout=120)
    except RuntimeError as exc:
        service.stop()
        return f"LiteLLM skipped: it did not start ({exc}); log: {log}"
    return service
