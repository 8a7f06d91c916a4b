"""The package stays a one-way house (layers/core/qwen_server/README.md draws it): nothing below `app/` imports
from `app/`, no import circle between modules or between the package's top-level parts, no module over 500
lines. Read from the source with `ast`, every import counted (module level, inside functions, and under
`TYPE_CHECKING`), so a lazy import that reaches up is caught as well."""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "core" / "qwen_server"
MAX_LINES = 500
TOP = ("qwen_server.app", "qwen_server.cli")  # the HTTP layer and the command line: they compose the runtime


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The package module an imported name lives in (`qwen_server.a.b.C` -> `qwen_server.a.b`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> dict[str, int]:
    """Package modules `module` imports -> the line of the first such import."""
    found: dict[str, int] = {}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a import b`: the submodule a.b when there is one, else a name defined in a
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for name in names:
            owner = _owner(name) if name.startswith("qwen_server") else None
            if owner is not None and owner != module:
                found.setdefault(owner, node.lineno)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _is_top(module: str) -> bool:
    return any(module == top or module.startswith(f"{top}.") for top in TOP)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected parts of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    part = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        part.append(member)
                        if member == node:
                            break
                    if len(part) > 1:
                        circles.append(sorted(part))
    return circles


def test_the_package_is_read_whole() -> None:
    """The checks below see the package (a wrong path would make them pass on nothing)."""
    assert {"qwen_server.app.runtime", "qwen_server.gateway", "qwen_server.pool.pool"} <= set(MODULES)
    assert "qwen_server.gateway" in GRAPH["qwen_server.app.runtime"]


def test_no_module_below_app_imports_from_app() -> None:
    upward = [
        f"{module} (line {line}) imports {target}"
        for module, targets in sorted(GRAPH.items())
        if not _is_top(module)
        for target, line in sorted(targets.items())
        if target.startswith("qwen_server.app")
    ]
    assert not upward, "the runtime is handed down, never fetched from app/:\n" + "\n".join(upward)


def test_no_import_circle_between_modules() -> None:
    circles = _circles({module: set(targets) for module, targets in GRAPH.items()})
    assert not circles, f"modules that import each other: {circles}"


def test_no_import_circle_between_the_packages_parts() -> None:
    """`qwen_server.pool`, `qwen_server.gateway`, ... as one node each: a circle here is an arrow running up."""

    def part(module: str) -> str:
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = defaultdict(set)
    ties: dict[tuple[str, str], str] = {}
    for module, targets in GRAPH.items():
        for target in targets:
            if part(module) != part(target):
                graph[part(module)].add(part(target))
                ties.setdefault((part(module), part(target)), f"{module} -> {target}")
    circles = _circles(dict(graph))
    shown = [[tie for (a, b), tie in sorted(ties.items()) if a in c and b in c] for c in circles]
    assert not circles, f"parts that import each other: {shown}"


def test_no_module_is_over_500_lines() -> None:
    sizes = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in MODULES.items()}
    over = {module: lines for module, lines in sorted(sizes.items()) if lines > MAX_LINES}
    assert not over, f"split these by responsibility (lines): {over}"
