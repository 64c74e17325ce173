"""The wheel is self-contained: it carries every assumption file and the dashboard, and builds without warnings."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = {ROOT / "assumptions": "forecast/assumptions", ROOT / "api" / "static": "api/static"}
# Not part of the source: setuptools builds in the tree it is given, and a stale build/ directory
# would carry files deleted from the source into the wheel.
NOT_SOURCE = (".git", ".venv", ".lock-venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], str]:
    """The names inside a wheel built from a clean copy of the source, and the build's verbose log."""
    source = tmp_path_factory.mktemp("source") / "magnet-forecast"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    (wheel,) = out.glob("magnet_forecast-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist()), run.stdout + run.stderr


def test_the_wheel_carries_exactly_the_assumption_files_and_the_dashboard(built: tuple[set[str], str]):
    names, _ = built
    for source, target in DATA.items():
        files = {
            f"{target}/{p.relative_to(source).as_posix()}"
            for p in source.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"
        }
        assert files, f"no files under {source}"
        shipped = {n for n in names if n.startswith(f"{target}/") and not n.endswith(".py")}
        assert not files - shipped, f"missing from the wheel: {sorted(files - shipped)}"
        assert not shipped - files, f"in the wheel but not in the source: {sorted(shipped - files)}"


def test_the_build_raises_no_deprecation_or_packaging_warning(built: tuple[set[str], str]):
    _, log = built
    for warning in ("BuildBackendWarning", "SetuptoolsDeprecationWarning"):
        assert warning not in log, f"the build warns ({warning}): see pyproject.toml's [tool.setuptools]"
