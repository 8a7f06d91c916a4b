"""Every benchmark in bench/ is registered with `./dev bench` and run by the smoke tests."""

from __future__ import annotations

import pytest

from .smoke import BENCH, LOCAL, WITH_SERVERS, run_all


def test_every_script_in_bench_is_a_registered_benchmark_or_a_named_helper() -> None:
    scripts = {path.name for path in BENCH.glob("*.py")}
    registered = {bench.script for bench in run_all.BENCHES.values()}
    assert scripts - registered - run_all.HELPERS == set(), "a new benchmark must be added to run_all.BENCHES"
    assert registered <= scripts and run_all.HELPERS <= scripts


def test_the_smoke_tests_run_every_registered_benchmark_once() -> None:
    assert sorted(WITH_SERVERS + LOCAL) == sorted(run_all.BENCHES)


def test_dev_bench_explains_itself_and_names_what_it_does_not_know(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as helped:
        run_all.main(["--help"])
    shown = capsys.readouterr().out
    assert helped.value.code == 0 and all(name in shown for name in run_all.BENCHES)
    with pytest.raises(SystemExit) as refused:
        run_all.main(["no-such-bench"])
    assert refused.value.code == 2 and "unknown benchmarks: no-such-bench" in capsys.readouterr().err
