"""Shared by every test folder. Helpers are imported by package (`from tests.processes import ...`), so any
subset of folders collects together, in any order."""

import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# httpx builds every client's TLS context from SSL_CERT_FILE (or certifi's file), parsing the whole CA bundle
# (about 20 ms of CPU per client, the SDKs' and every `httpx.get` included: the suite makes thousands, for
# plain-HTTP servers). From SSL_CERT_DIR, the same system certificates are read only when a handshake needs
# them. Processes the tests start inherit the choice.
_certificates = os.environ.get("SSL_CERT_DIR") or ssl.get_default_verify_paths().capath
if _certificates and any(Path(_certificates).glob("*.0")):  # hashed links: a directory OpenSSL can look up
    os.environ["SSL_CERT_DIR"] = _certificates
    os.environ.pop("SSL_CERT_FILE", None)

# Property tests check behaviour, not speed: on a loaded machine (several test workers on two cores) input
# generation and examples may be slow, and that must not fail them.
settings.register_profile("shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")


# `./dev test` hands whole files to its workers (`--dist loadfile`), in collection order
# (`--no-loadscope-reorder`). These files take longest (tens of seconds each, waiting on processes they
# start): they go first, so that no worker is still running one of them while the others have finished.
LONGEST_FIRST = (
    "tests/batches/test_batch_workers.py",
    "tests/serverless/test_python_versions.py",
    "tests/e2e/test_request_path.py",
    "tests/standalone/test_standalone_commands.py",
    "tests/e2e/test_upstream_drift.py",
    "tests/standalone/test_standalone_serve.py",
    "tests/benchmarks/test_bench_smoke_servers.py",
    "tests/e2e/test_openapi_contract.py",
    "tests/e2e/test_account_refusals.py",
    "tests/scheduler/test_sched_multiprocess.py",
    "tests/e2e/test_faults.py",
    "tests/e2e/test_doctor.py",
    "tests/serverless/test_sam_template.py",
    "tests/e2e/test_rate_limits.py",
    "tests/e2e/test_errors.py",
    "tests/e2e/test_continuation.py",
    "tests/e2e/test_models_served.py",
    "tests/images/test_quotas_and_upstreams.py",
    "tests/store/test_store_behaviour.py",
    "tests/e2e/test_client_version.py",
    "tests/e2e/test_accounts_config.py",
    "tests/e2e/test_serve_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    last = len(rank)
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], last))  # stable: the rest keep order


@pytest.fixture(autouse=True)
def _no_account_values_carried_over() -> Iterator[None]:
    """A runtime built in the test process registers its accounts with the error-text sanitiser (one runtime
    per process when deployed): the next test's messages must not be redacted by this test's passwords."""
    yield
    from qwen_server.core import sanitise

    sanitise.watch(lambda: ())
