"""The wheel is self-contained: it carries every assumption file and the dashboard, and builds without warnings."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = {ROOT / "assumptions": "forecast/assumptions", ROOT / "api" / "static": "api/static"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], str]:
    """The names inside a freshly built wheel, and the build's verbose log."""
    out = tmp_path_factory.mktemp("wheel")
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    (wheel,) = out.glob("magnet_forecast-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist()), run.stdout + run.stderr


def test_the_wheel_carries_every_assumption_file_and_the_dashboard(built: tuple[set[str], str]):
    names, _ = built
    for source, target in DATA.items():
        files = [p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, f"no files under {source}"
        for path in files:
            name = f"{target}/{path.relative_to(source).as_posix()}"
            assert name in names, f"{name} is missing from the wheel"


def test_the_build_raises_no_deprecation_or_packaging_warning(built: tuple[set[str], str]):
    _, log = built
    for warning in ("BuildBackendWarning", "SetuptoolsDeprecationWarning"):
        assert warning not in log, f"the build warns ({warning}): see pyproject.toml's [tool.setuptools]"
