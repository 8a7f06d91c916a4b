"""template.yaml passes `sam validate --lint` and cfn-lint, `sam build` succeeds, and the built artifacts
run: the meta handler and the chat run.sh on python3.12 with nothing on the path but the built layer, the
way Lambda lays them out (/var/task = the function, /opt/python = CoreLayer, /opt/shared = SharedDataLayer).

Skipped only when a tool is absent; install them with
    python3 -m venv .venv-tools && .venv-tools/bin/pip install aws-sam-cli cfn-lint
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.processes import Service, emulator_accounts, free_port, start_emulator, wait_http
from tests.serverless.serverless_support import DRIVER, REPO, body_json, http_api_event, lambda_env, stop

TOOLS = REPO / ".venv-tools" / "bin"


def tool(name: str) -> str | None:
    for candidate in (shutil.which(name), TOOLS / name, Path(sys.executable).parent / name):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def python312() -> str | None:
    """A python3.12 that actually runs (a pyenv shim on PATH may exist for a version that is not active)."""
    candidates = [
        shutil.which("python3.12"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12"))),
    ]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=30)
        except OSError:
            continue
        if done.returncode == 0 and done.stdout.startswith("Python 3.12"):
            return candidate
    return None


SAM, CFN_LINT, PY312 = tool("sam"), tool("cfn-lint"), python312()


def sam_env(python: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    if python:
        env["PATH"] = f"{Path(python).parent}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.skipif(CFN_LINT is None, reason="cfn-lint is not installed")
def test_cfn_lint() -> None:
    done = subprocess.run(
        [str(CFN_LINT), "template.yaml"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(SAM is None, reason="the SAM CLI is not installed")
def test_sam_validate_lint() -> None:
    done = subprocess.run(
        [str(SAM), "validate", "--lint", "--template-file", "template.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=sam_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def built() -> Iterator[Path]:
    if SAM is None or PY312 is None:
        pytest.skip("sam build needs the SAM CLI and a working python3.12")
    build_dir = Path(tempfile.mkdtemp(prefix="sam-build-"))
    done = subprocess.run(
        [str(SAM), "build", "--build-dir", str(build_dir), "--template-file", "template.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=sam_env(PY312),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield build_dir
    shutil.rmtree(build_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    service = start_emulator("--seed", "7", accounts=2)
    yield service
    service.stop()


def test_sam_build_lays_out_layers_and_functions(built: Path) -> None:
    layer = built / "CoreLayer" / "python"
    assert (layer / "qwen_server" / "serverless" / "handler.py").is_file()
    for page_file in ("admin.html", "admin.css", "admin.js"):  # the admin page ships with the layer
        assert (layer / "qwen_server" / "app" / "admin_page" / page_file).is_file(), page_file
    packages = (
        "fastapi",
        "pydantic_core",
        "uvicorn",
        "mangum",
        "aws_lambda_powertools",
        "orjson",
        "prometheus_client",
    )
    for package in packages:
        assert (layer / package).is_dir(), f"{package} missing from the layer"
    assert not (layer / "boto3").exists(), "boto3 comes with the Lambda runtime"
    assert (built / "SharedDataLayer" / "shared" / "models.json").is_file()
    assert os.access(built / "ChatFunction" / "run.sh", os.X_OK)
    assert (built / "MetaFunction" / "handler.py").is_file()
    assert (built / "ImagesFunction" / "handler.py").is_file()
    assert (layer / "python_multipart").is_dir(), "multipart forms (image edits, videos) need it"


def layer_env(built: Path, emulator: Service, function: str, **extra: str) -> dict[str, str]:
    env = lambda_env(
        function,
        STORE_URL="memory://",
        QWEN_ACCOUNTS=json.dumps(emulator_accounts(emulator, 2)),
        PYTHONPATH=str(built / "CoreLayer" / "python"),
        QWEN_SERVER_SHARED_DIR=str(built / "SharedDataLayer" / "shared"),
        **extra,
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def test_built_meta_handler_runs_on_the_layer_alone(built: Path, emulator: Service) -> None:
    work = Path(tempfile.mkdtemp(prefix="built-meta-"))
    (work / "events.json").write_text(json.dumps([http_api_event("GET", "/v1/models")]))
    function_dir = built / "MetaFunction"
    done = subprocess.run(
        # -S: no site-packages at all, so every import must come from the built layer or the stdlib
        [
            str(PY312),
            "-S",
            str(DRIVER),
            str(function_dir),
            "handler.handler",
            str(work / "events.json"),
            str(work / "out.json"),
        ],
        cwd=function_dir,
        env=layer_env(built, emulator, "qwen-meta"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    response = json.loads((work / "out.json").read_text())["responses"][0]
    ids = {m["id"] for m in body_json(response)["data"]}
    assert "qwen3-max" in ids and "gpt-4o" in ids, "upstream models plus the aliases from /opt/shared"


def test_built_chat_run_script_streams_on_the_layer_alone(built: Path, emulator: Service) -> None:
    bin_dir = Path(tempfile.mkdtemp(prefix="lambda-bin-"))
    (bin_dir / "python").symlink_to(str(PY312))  # Lambda's PATH starts with /var/lang/bin (python = 3.12)
    port = free_port()
    env = layer_env(built, emulator, "qwen-chat", PORT=str(port), AWS_LWA_READINESS_CHECK_PATH="/health")
    env["PATH"] = f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
    log = Path(tempfile.mkstemp(prefix="built-chat-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", str(built / "ChatFunction" / "run.sh")],
            cwd=built / "ChatFunction",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="any", max_retries=0)
        stream = client.chat.completions.create(
            model="qwen3-max", messages=[{"role": "user", "content": "built and streamed"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    except RuntimeError:
        raise AssertionError(log.read_text()) from None
    finally:
        stop(process)
    assert text == "built and streamed"


MIB = 1024 * 1024
AWS_LIMIT_MIB = 150  # our margin under Lambda's hard 250 MiB (function + layers, unzipped)
WEB_ADAPTER_MIB = 10  # the public Lambda Web Adapter layer of the streaming functions (its binary is ~6 MiB)


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def test_every_function_with_its_layers_fits_with_margin(built: Path) -> None:
    """What Lambda unpacks for each function (its code, CoreLayer, SharedDataLayer, and the Web Adapter for a
    streaming one) stays under 150 MiB: a heavy dependency slipping into the layer fails here, not at deploy."""
    import yaml

    def tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
        return None

    yaml.SafeLoader.add_multi_constructor("!", tag)
    resources = yaml.safe_load((REPO / "template.yaml").read_text())["Resources"]
    layers = tree_bytes(built / "CoreLayer") + tree_bytes(built / "SharedDataLayer")
    rows = []
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        streams = resource["Properties"].get("Handler") == "run.sh"
        total = tree_bytes(built / name) + layers + (WEB_ADAPTER_MIB * MIB if streams else 0)
        rows.append((name, total / MIB))
    print("\n".join(f"{name:<20} {mib:7.1f} MiB" for name, mib in rows))
    assert len(rows) == 7
    for name, mib in rows:
        assert mib < AWS_LIMIT_MIB, f"{name}: {mib:.1f} MiB unzipped with its layers (limit {AWS_LIMIT_MIB})"
    core = built / "CoreLayer" / "python"
    assert not (core / "av").exists() and not (core / "dashscope").exists() and not (core / "cryptography").exists()
