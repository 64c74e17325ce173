"""Fetching an assumptions source into a directory: a local directory or HTTP(S) URLs in a manifest.

Only the files the model reads are taken, each within a byte limit; URLs are fetched with timeouts.
A manifest is JSON: {"files": {"parameters.yaml": "<url, absolute or relative to the manifest>", ...}}.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin

import httpx

from forecast.schemas import SERIES

ASSUMPTION_FILES: tuple[str, ...] = (
    "sources.yaml",
    "parameters.yaml",
    "structure.yaml",
    "model.yaml",
    "scenarios.yaml",
    *(spec.path for spec in SERIES),
    "supply/projects.csv",
    "supply/output.csv",
    "supply/china.csv",
)
OPTIONAL_FILES: tuple[str, ...] = ("README.md",)


@dataclass(frozen=True)
class Limits:
    """Bounds on fetching a source: bytes per file, seconds per request."""

    max_file_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0


class SourceError(Exception):
    """The source could not be fetched; the message says which file and why."""


def _safe_relative(name: str) -> str:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or str(p) not in (*ASSUMPTION_FILES, *OPTIONAL_FILES):
        raise SourceError(f"{name}: not an assumptions file; expected one of {list(ASSUMPTION_FILES)}")
    return str(p)


def fetch(source: str, dest: Path, max_file_bytes: int, timeout_s: float) -> None:
    """Copy or download the assumptions named by ``source`` into ``dest`` (which must be empty)."""
    dest.mkdir(parents=True, exist_ok=True)
    if source.startswith(("http://", "https://")):
        _fetch_manifest(source, dest, max_file_bytes, timeout_s)
        return
    root = Path(source)
    if not root.is_dir():
        raise SourceError(f"{source}: not a directory or an http(s) URL")
    for name in (*ASSUMPTION_FILES, *OPTIONAL_FILES):
        src = root / name
        if not src.is_file():
            if name in OPTIONAL_FILES:
                continue
            raise SourceError(f"{name}: missing from {source}")
        size = src.stat().st_size
        if size > max_file_bytes:
            raise SourceError(f"{name}: {size} bytes, more than the limit of {max_file_bytes}")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / name)


def _download(client: httpx.Client, url: str, max_bytes: int) -> bytes:
    with client.stream("GET", url) as r:
        if r.status_code != 200:
            raise SourceError(f"{url}: HTTP {r.status_code}")
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise SourceError(f"{url}: {declared} bytes, more than the limit of {max_bytes}")
        body = bytearray()
        for chunk in r.iter_bytes():
            body.extend(chunk)
            if len(body) > max_bytes:
                raise SourceError(f"{url}: more than the limit of {max_bytes} bytes")
        return bytes(body)


def _fetch_manifest(url: str, dest: Path, max_bytes: int, timeout_s: float) -> None:
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            manifest = json.loads(_download(client, url, max_bytes))
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if not isinstance(files, dict):
                raise SourceError(f"{url}: manifest has no 'files' mapping")
            missing = set(ASSUMPTION_FILES) - set(files)
            if missing:
                raise SourceError(f"{url}: manifest lacks {sorted(missing)}")
            for name, ref in files.items():
                rel = _safe_relative(str(name))
                target = urljoin(url, str(ref))
                if not target.startswith(("http://", "https://")):
                    raise SourceError(f"{name}: {target} is not an http(s) URL")
                data = _download(client, target, max_bytes)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_bytes(data)
    except httpx.HTTPError as exc:
        raise SourceError(f"{url}: {type(exc).__name__}: {exc}") from None
    except json.JSONDecodeError:
        raise SourceError(f"{url}: manifest is not valid JSON") from None
