"""Test modules import their helpers by package (`tests.processes`, `tests.e2e.ai_sdk_support`), never by a bare
module name that only resolves when pytest happens to put that file's folder first on sys.path: a bare name
breaks as soon as two directories are collected together or in another order."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _local_module_names() -> set[str]:
    return {path.stem for path in TESTS.rglob("*.py") if path.stem != "__init__"}


def _bare_imports(path: Path, local: set[str], root: Path = TESTS) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path.relative_to(root)}:{node.lineno} {name}" for name in names if name.split(".")[0] in local]
    return found


def test_no_test_module_imports_a_helper_by_its_bare_name() -> None:
    local = _local_module_names()
    offending = [hit for path in sorted(TESTS.rglob("*.py")) for hit in _bare_imports(path, local)]
    assert offending == []


def test_every_test_folder_is_a_package() -> None:
    folders = {path.parent for path in TESTS.rglob("test_*.py")}
    assert sorted(str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").exists()) == []


def test_the_check_sees_a_bare_import(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text("from processes import Service\nimport waiting\nfrom tests.processes import REPO\n")
    assert [hit.split(" ")[1] for hit in _bare_imports(sample, {"processes", "waiting"}, tmp_path)] == [
        "processes",
        "waiting",
    ]



def test_the_files_scheduled_first_exist() -> None:
    """A renamed slow file would silently fall back to the end of the queue (and become the suite's tail)."""
    from tests.conftest import LONGEST_FIRST

    missing = [path for path in LONGEST_FIRST if not (TESTS.parent / path).is_file()]
    assert missing == []
