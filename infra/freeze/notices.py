"""THIRD_PARTY_NOTICES for the standalone executable: the licence of every component it bundles, worked out
from what the freezer actually collected rather than from a hand-kept list.

Each collected file is traced to its owner: the project itself (the package, shared/), the Python runtime
(standard library, its extension modules, libpython), a distribution of the build venv (by the files its
RECORD lists, which covers the shared libraries a wheel vendors in `<name>.libs/`), or a system library
(on Debian, the package `dpkg -S` names, whose copyright file is quoted). PyInstaller's bootloader, which
is the executable's first stage, is PyInstaller's own.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import shutil
import subprocess
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

LICENCE_NAME = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS)", re.IGNORECASE)
RULE = "=" * 78


def _distribution_files() -> dict[Path, metadata.Distribution]:
    owners: dict[Path, metadata.Distribution] = {}
    for dist in metadata.distributions():
        if not (dist.read_text("RECORD") or ""):  # an egg-info (the source tree's own) lists no RECORD
            continue
        for file in dist.files or ():
            owners[Path(str(dist.locate_file(file))).resolve()] = dist
    return owners


def _licence_texts(dist: metadata.Distribution) -> list[tuple[str, str]]:
    """(file name, text) of the licence files the distribution ships in its dist-info folder."""
    found = []
    for file in dist.files or ():
        parts = file.parts
        if len(parts) >= 2 and parts[0].endswith(".dist-info") and LICENCE_NAME.match(file.name):
            if file.suffix in (".py", ".pyc"):
                continue
            found.append(("/".join(parts[1:]), Path(str(dist.locate_file(file))).read_text(errors="replace")))
    return found


def _licence_label(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return str(expression)
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    text = str(meta.get("License") or "").strip()
    short = text.splitlines()[0] if text and len(text) < 200 else ""
    return "; ".join(dict.fromkeys([*classifiers, short] if short else classifiers)) or "see the text below"


def _debian_package(path: Path) -> str | None:
    if shutil.which("dpkg") is None:
        return None
    for candidate in dict.fromkeys([str(path), str(path.resolve())]):
        done = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.split(":", 1)[0].strip()
    # /lib is a link to /usr/lib on current Debian: dpkg knows the file under one of the two names
    alias = str(path).replace("/usr/lib/", "/lib/", 1) if str(path).startswith("/usr/lib/") else "/usr" + str(path)
    done = subprocess.run(["dpkg", "-S", alias], capture_output=True, text=True, check=False)
    return done.stdout.split(":", 1)[0].strip() if done.returncode == 0 else None


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def write_notices(entries: Iterable[tuple[str, str, str]], repo: Path, out: Path) -> Path:
    """Write the notices for the freezer's collected entries (dest name, source path, type) to `out`."""
    owners = _distribution_files()
    python_root = Path(sys.base_prefix).resolve()
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    own_roots = [(repo / "layers" / "core").resolve(), (repo / "shared").resolve()]
    bundled: dict[str, metadata.Distribution] = {}
    vendored: dict[str, set[str]] = defaultdict(set)  # a wheel's own copies of shared libraries (`<name>.libs/`)
    system: dict[str, set[str]] = defaultdict(set)
    unknown: set[str] = set()
    for dest, source, _kind in entries:
        if not source:
            continue
        path = Path(source).resolve()
        dist = owners.get(path)
        if dist is not None:
            bundled[dist.metadata["Name"].lower()] = dist
            if Path(dest).parts[0].endswith(".libs"):
                vendored[dist.metadata["Name"].lower()].add(Path(dest).as_posix())
        elif any(_under(path, root) for root in own_roots) or out.parent in path.parents:
            continue  # the project's own files, or what the freezer generated
        elif _under(path, python_root) and not _under(path, site):
            continue  # the Python runtime, quoted below
        elif path.is_file():
            package = _debian_package(Path(source))
            if package:
                system[package].add(Path(source).name)
            else:
                unknown.add(str(source))
    pyinstaller = metadata.distribution("pyinstaller")
    bundled.setdefault("pyinstaller", pyinstaller)

    sections = [
        "qwen-server bundles the components below. Each section names one, its version and licence, then the "
        "licence text as the component ships it.",
        _section("qwen-server (Qwen API Server)", "MIT", [("LICENSE", (repo / "LICENSE").read_text())]),
        _section(
            f"Python {sys.version.split()[0]} (interpreter, standard library, libpython)",
            "PSF-2.0",
            [("LICENSE.txt", (Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt").read_text())],
        ),
    ]
    for name in sorted(bundled):
        dist = bundled[name]
        extra = []
        if name == "pyinstaller":
            extra.append("Its bootloader is the executable's first stage (GPL-2.0 with the bootloader exception).")
        if vendored[name]:
            extra.append(
                "Shared libraries its wheel carries, each under its own licence:\n  "
                + "\n  ".join(sorted(vendored[name]))
            )
        title = f"{dist.metadata['Name']} {dist.version}"
        sections.append(_section(title, _licence_label(dist), _licence_texts(dist), extra))
    for package in sorted(system):
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        text = copyright_file.read_text(errors="replace") if copyright_file.is_file() else ""
        note = [f"System library files: {', '.join(sorted(system[package]))}"]
        sections.append(_section(f"{package} (Debian package)", "see the copyright text", [("copyright", text)], note))
    if unknown:
        sections.append(
            _section("Other files", "unattributed", [], ["Collected without a known owner:", *sorted(unknown)])
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return out


def _section(title: str, licence: str, texts: list[tuple[str, str]], notes: Iterable[str] = ()) -> str:
    lines = [RULE, title, f"Licence: {licence}", *notes]
    if not texts:
        lines.append("(the distribution ships no licence file; its licence is the one named above)")
    for name, text in texts:
        lines += [f"--- {name} ---", text.strip()]
    return "\n".join(lines)
