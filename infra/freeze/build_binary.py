"""`./dev dist`: build `dist/qwen-server`, the standalone executable, for the machine this runs on.

    python infra/freeze/build_binary.py [--force]

PyInstaller runs inside `.venv-dist`, a venv holding only the default install's dependencies (read from
pyproject.toml) and the freezer, so nothing from the dev extras leaks into the executable. On Linux and macOS
the result is one file: `launcher.sh` followed by PyInstaller's one-folder build, compressed; its first start
unpacks the folder into a cache and every start runs it from there (PyInstaller's own one-file mode unpacks
everything into a new temporary folder on every start, and leaves it behind when killed). On Windows, where
that launcher cannot run, it is PyInstaller's one-file `qwen-server.exe`.

A build is skipped when `dist/qwen-server` already comes from the same sources: the key is a hash of the
package, shared/, pyproject.toml, LICENSE and this folder (plus the freezer's version range), kept in
`build/freeze/built.key`. The freezer cannot cross-compile: build on macOS for macOS, on Windows for Windows.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WINDOWS = os.name == "nt"
BINARY = REPO / "dist" / ("qwen-server.exe" if WINDOWS else "qwen-server")
WORK = REPO / "build" / "freeze"
KEY_FILE = WORK / "built.key"
VENV = REPO / ".venv-dist"
FREEZER = "pyinstaller>=6.10,<7"
SPEC = REPO / "infra" / "freeze" / "qwen-server.spec"
LAUNCHER = REPO / "infra" / "freeze" / "launcher.sh"
OFFSET_DIGITS = 10  # the payload's offset is written with a fixed width, so writing it moves nothing
SOURCES = ("layers/core/qwen_server", "shared", "infra/freeze", "pyproject.toml", "LICENSE")


def _files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path


def source_key() -> str:
    """The hash the executable is built from: every source file's path and bytes, and the freezer's range."""
    digest = hashlib.sha256(FREEZER.encode())
    for name in SOURCES:
        for path in _files(REPO / name):
            digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def is_current() -> bool:
    """Whether `dist/qwen-server` exists and was built from the sources as they are now."""
    return BINARY.is_file() and KEY_FILE.is_file() and KEY_FILE.read_text().strip() == source_key()


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if WINDOWS else "bin/python")


def _build_requirements() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [FREEZER, *project["dependencies"]]


def ensure_build_venv() -> Path:
    """`.venv-dist` with the default install's dependencies and the freezer (reinstalled when they change)."""
    requirements = _build_requirements()
    stamp = VENV / ".installed"
    wanted = "\n".join(requirements)
    if not _venv_python().exists():
        venv.create(VENV, with_pip=True)
    if not stamp.is_file() or stamp.read_text() != wanted:
        print(f"installing the build venv ({VENV.name}): the default dependencies and {FREEZER}", flush=True)
        subprocess.run([str(_venv_python()), "-m", "pip", "install", "--quiet", *requirements], check=True)
        stamp.write_text(wanted)
    return _venv_python()


def _check_tools() -> None:
    if sys.platform.startswith("linux") and shutil.which("objcopy") is None:
        raise SystemExit("PyInstaller needs binutils (objdump, objcopy) on Linux: apt-get install binutils")


@contextmanager
def _locked() -> Iterator[None]:
    """One build at a time (a test run and a benchmark may both ask for the executable)."""
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / "lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: builds there are started by hand, one at a time
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(force: bool = False) -> Path:
    """Build the executable unless it is current; returns its path."""
    with _locked():
        if not force and is_current():
            print(f"{BINARY.relative_to(REPO)} is up to date with the sources", flush=True)
            return BINARY
        _check_tools()
        key = source_key()
        python = ensure_build_venv()
        started = time.monotonic()
        out = WORK / "out"
        shutil.rmtree(out, ignore_errors=True)
        layout = "onefile" if WINDOWS else "onedir"
        env = {**os.environ, "PYTHONPATH": str(REPO / "layers" / "core"), "QWEN_FREEZE_LAYOUT": layout}
        command = [str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN"]
        command += ["--distpath", str(out), "--workpath", str(WORK / "work"), str(SPEC)]
        print(f"building {BINARY.relative_to(REPO)} with PyInstaller (a minute or two)", flush=True)
        subprocess.run(command, check=True, env=env, cwd=REPO)
        built = out / BINARY.name if WINDOWS else pack(out / "qwen-server", WORK / "qwen-server.packed")
        BINARY.parent.mkdir(exist_ok=True)
        os.replace(built, BINARY)  # atomic: a running copy of the old one keeps its file
        KEY_FILE.write_text(key + "\n")
        size = BINARY.stat().st_size / 1e6
        print(f"built {BINARY.relative_to(REPO)}: {size:.1f} MB in {time.monotonic() - started:.0f} s", flush=True)
        return BINARY


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(folder: Path, target: Path) -> Path:
    """One file: the launcher, then `folder`'s contents as a gzip'd tar; the launcher names the build by the
    payload's hash, so a new build unpacks into a new cache folder."""
    payload = target.with_suffix(".tar.gz")
    with tarfile.open(payload, "w:gz", compresslevel=6) as archive:
        for path in sorted(folder.iterdir()):
            archive.add(path, arcname=path.name, filter=_owned_by_root)
    digest = hashlib.sha256()
    with open(payload, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    header = LAUNCHER.read_text().replace("@BUILD@", digest.hexdigest()[:16])
    offset_field = "@OFFSET@"
    length = len(header.encode()) - len(offset_field) + OFFSET_DIGITS
    header = header.replace(offset_field, str(length + 1).rjust(OFFSET_DIGITS, "0"))  # `tail -c +N` is 1-based
    with open(target, "wb") as out, open(payload, "rb") as handle:
        out.write(header.encode())
        shutil.copyfileobj(handle, out, 1 << 20)
    payload.unlink()
    target.chmod(0o755)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description="Build dist/qwen-server, the standalone executable.")
    parser.add_argument("--force", action="store_true", help="rebuild even when it is up to date")
    build(force=parser.parse_args().force)


if __name__ == "__main__":
    main()
