"""The standalone executable, built once per source change (`infra/freeze/build_binary.py`, which `./dev test`
runs before pytest), copied alone into an empty folder for the tests of this folder."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.processes import REPO
from tests.standalone.frozen_app import Frozen


def _builder() -> ModuleType:
    """infra/freeze/build_binary.py, which is a script rather than a package module."""
    spec = importlib.util.spec_from_file_location("build_binary", REPO / "infra" / "freeze" / "build_binary.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frozen]:
    """`./dev dist`'s output (built here if the sources changed since), copied into an empty folder."""
    built: Path = _builder().build()
    alone = tmp_path_factory.mktemp("alone")
    shutil.copy2(built, alone / built.name)
    cache = tmp_path_factory.mktemp("cache")
    yield Frozen(alone / built.name, cache)
    shutil.rmtree(cache)  # an unpacked build is some 200 MB: not kept with pytest's last temporary folders


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """`tmp_path`, emptied afterwards (for tests that unpack the executable into it)."""
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)
