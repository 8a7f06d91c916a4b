"""The one file's launcher: its first start unpacks the executable's folder into a cache, later starts run it
from there; where the cache is without any variable but PATH, with HOME, and with QWEN_SERVER_CACHE; starts
racing each other; a broken cache folder; a cache folder that belongs to someone else."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qwen_server import __version__
from tests.standalone.frozen_app import BARE_PATH, Frozen

VERSION = f"qwen-server {__version__}\n"


def build_id(frozen: Frozen) -> str:
    with open(frozen.path, "rb") as handle:
        head = handle.read(4096).decode(errors="replace")
    found = re.search(r"^build=([0-9a-f]{16})$", head, re.MULTILINE)
    assert found, "the launcher names its build"
    return found.group(1)


def version(frozen: Frozen, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(frozen.path), "--version"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_without_home_it_unpacks_once_under_tmpdir(frozen: Frozen, scratch: Path) -> None:
    env = {"PATH": BARE_PATH, "TMPDIR": str(scratch)}  # nothing else: no HOME, no cache variable
    first = version(frozen, env, scratch)
    assert (first.returncode, first.stdout) == (0, VERSION), first.stderr
    root = scratch / f"qwen-server-{os.getuid()}"
    marker = root / build_id(frozen) / ".complete"
    assert marker.is_file()
    assert oct(root.stat().st_mode & 0o777) == "0o700", "nobody else may put files in it"
    unpacked = marker.stat()
    second = version(frozen, env, scratch)
    assert (second.returncode, second.stdout) == (0, VERSION)
    assert (marker.stat().st_ino, marker.stat().st_mtime_ns) == (unpacked.st_ino, unpacked.st_mtime_ns)
    assert [p.name for p in root.iterdir()] == [build_id(frozen)], "nothing left over from unpacking"


def test_with_home_the_cache_is_under_dot_cache(frozen: Frozen, scratch: Path) -> None:
    done = version(frozen, {"PATH": BARE_PATH, "HOME": str(scratch)}, scratch)
    assert (done.returncode, done.stdout) == (0, VERSION), done.stderr
    assert (scratch / ".cache" / "qwen-server" / build_id(frozen) / ".complete").is_file()


def test_starts_racing_to_unpack_all_run_and_leave_one_folder(frozen: Frozen, scratch: Path) -> None:
    cache = scratch / "cache"
    env = {"PATH": BARE_PATH, "QWEN_SERVER_CACHE": str(cache)}
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: version(frozen, env, scratch), range(3)))
    assert [(r.returncode, r.stdout) for r in results] == [(0, VERSION)] * 3, [r.stderr for r in results]
    folder = cache / build_id(frozen)
    assert [p.name for p in cache.iterdir()] == [folder.name]
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".unpacking")]


def test_a_broken_cache_folder_is_unpacked_again(frozen: Frozen, scratch: Path) -> None:
    broken = scratch / build_id(frozen)
    (broken / "_internal").mkdir(parents=True)  # what remains when a cleaner removed part of it
    done = version(frozen, {"PATH": BARE_PATH, "QWEN_SERVER_CACHE": str(scratch)}, scratch)
    assert (done.returncode, done.stdout) == (0, VERSION), done.stderr
    assert (broken / ".complete").is_file() and (broken / "qwen-server").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_folder_of_another_user_is_refused(frozen: Frozen, scratch: Path) -> None:
    theirs = scratch / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    done = version(frozen, {"PATH": BARE_PATH, "QWEN_SERVER_CACHE": str(theirs)}, scratch)
    assert done.returncode == 1 and "belongs to another user; set QWEN_SERVER_CACHE" in done.stderr
    assert list(theirs.iterdir()) == []
