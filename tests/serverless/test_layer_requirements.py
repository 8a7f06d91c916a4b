"""The Lambda layer installs every runtime dependency pyproject declares, so a new dependency (jsonschema once
was missing, and structured output failed only on AWS) cannot be forgotten there."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
LAYER = REPO / "layers" / "core" / "requirements.txt"
# In the `aws` extra but not in the layer, and why.
RUNTIME_SHIPS = {"boto3": "the Lambda Python runtime ships boto3"}
# Base dependencies the layer leaves out, and why.
NOT_ON_LAMBDA = {"vercel": "wait_until works only inside a Vercel invocation"}


def _pyproject() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)


def _requirements(lines: list[str]) -> dict[str, Requirement]:
    found: dict[str, Requirement] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def test_every_runtime_dependency_is_in_the_layer_with_the_same_floor() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    wanted = {
        name: req
        for name, req in _requirements(list(project["dependencies"])).items()
        if name not in NOT_ON_LAMBDA
    }
    wanted.update(
        (name, req)
        for name, req in _requirements(list(project["optional-dependencies"]["aws"])).items()
        if name not in RUNTIME_SHIPS
    )
    layer = _requirements(LAYER.read_text().splitlines())
    missing = sorted(set(wanted) - set(layer))
    assert not missing, f"add to {LAYER.relative_to(REPO)}: {missing}"
    for name, requirement in wanted.items():
        assert layer[name].specifier == requirement.specifier, f"{name}: {layer[name]} vs {requirement}"
        assert layer[name].extras >= requirement.extras, (
            f"{name}: the layer lacks extras {requirement.extras}"
        )
    assert "jsonschema" in layer


def test_the_layer_lists_nothing_pyproject_does_not_know() -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    known = set(_requirements(list(project["dependencies"]))) | set(
        _requirements(list(project["optional-dependencies"]["aws"]))
    )
    extra = sorted(set(_requirements(LAYER.read_text().splitlines())) - known)
    assert not extra, f"in the layer but not in pyproject: {extra}"
