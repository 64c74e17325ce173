"""Every install resolves to the pinned set the tests passed with (constraints.txt)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def pins() -> dict[str, str]:
    """Package (canonical name) -> pinned version, from constraints.txt."""
    out = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt line {number}: expected 'name==version', got {line!r}"
        out[canonicalize_name(match.group(1))] = match.group(2)
    return out


def declared() -> list[Requirement]:
    """The dependencies pyproject.toml declares, the dev extra included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_declared_dependency_is_pinned_within_its_range():
    pinned = pins()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside pyproject.toml's {requirement.specifier}"
        )


def test_this_environment_is_the_pinned_one():
    for name, version in pins().items():
        assert metadata.version(name) == version, f"{name} {metadata.version(name)} installed, {version} pinned"


def test_make_and_the_image_install_with_the_constraints():
    assert "pip install -c constraints.txt -e '.[dev]'" in (ROOT / "Makefile").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY .*constraints\.txt", dockerfile, re.M)
    assert "pip install --no-cache-dir -c constraints.txt ." in dockerfile
