"""Fetching an assumptions source into a directory: a local directory or HTTP(S) URLs in a manifest.

Only the files the model reads are taken, each within a byte limit. A manifest is JSON:
{"files": {"parameters.yaml": "<url, absolute or relative to the manifest>", ...}}.

A source cannot be turned against the service: every connection goes to an address checked after
DNS resolution (loopback, link-local, private and reserved ranges refused unless allowed), redirects
and proxies are not followed, one deadline covers the whole download, symlinks in a directory source
are refused, and no error message carries what a failed fetch read. Credentials in URLs are redacted
from every message (``redact``).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpcore
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

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Limits:
    """Bounds on fetching a source: bytes per file, seconds for the whole download, extra networks allowed."""

    max_file_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0
    allowed_networks: tuple[IPNetwork, ...] = ()


class SourceError(Exception):
    """The source could not be fetched; the message says which file and why (never what was read)."""


class Cancelled(Exception):
    """The refresh was asked to stop (the process is shutting down)."""


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_SECRET_QUERY = re.compile(
    r"(?i)([?&;](?:token|access_token|api[_-]?key|key|password|passwd|pwd|secret|sig|signature|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token|auth|authorization)=)[^&;#\s\"']*"
)


def redact(text: str) -> str:
    """Text with the credentials of any URL in it replaced by ***: user:password@ and secret query values."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


def address_allowed(address: IPAddress, allowed: tuple[IPNetwork, ...] = ()) -> bool:
    """A public address, or one inside a network the settings allow."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address.version == net.version and address in net for net in allowed):
        return True
    return address.is_global and not address.is_multicast


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves the host itself and connects only to an address it has checked (no rebinding gap)."""

    def __init__(self, allowed: tuple[IPNetwork, ...]):
        self.allowed = allowed

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            raise SourceError(f"{host}: name does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        refused = [a for a in addresses if not address_allowed(a, self.allowed)]
        if not addresses or refused:
            raise SourceError(
                f"{host}: resolves to a loopback, link-local, private or reserved address; "
                "not allowed (FETCH_ALLOWED_NETWORKS)"
            )
        return super().connect_tcp(str(addresses[0]), port, timeout, local_address, socket_options)


class _CheckedTransport(httpx.HTTPTransport):
    """httpx's transport on the checked backend, without proxies from the environment."""

    def __init__(self, allowed: tuple[IPNetwork, ...]):
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=_CheckedBackend(allowed), retries=0
        )


def _safe_relative(name: str) -> str:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or str(p) not in (*ASSUMPTION_FILES, *OPTIONAL_FILES):
        raise SourceError(f"manifest names a file that is not an assumptions file; expected {list(ASSUMPTION_FILES)}")
    return str(p)


def fetch(source: str, dest: Path, limits: Limits, cancelled: Callable[[], bool] = lambda: False) -> None:
    """Copy or download the assumptions named by ``source`` into ``dest`` (which must be empty)."""
    dest.mkdir(parents=True, exist_ok=True)
    if source.startswith(("http://", "https://")):
        _fetch_manifest(source, dest, limits, time.monotonic() + limits.timeout_s, cancelled)
        return
    _copy_directory(Path(source), dest, limits.max_file_bytes, cancelled)


def _copy_directory(root: Path, dest: Path, max_file_bytes: int, cancelled: Callable[[], bool]) -> None:
    if not root.is_dir():
        raise SourceError(f"{redact(str(root))}: not a directory or an http(s) URL")
    for name in (*ASSUMPTION_FILES, *OPTIONAL_FILES):
        if cancelled():
            raise Cancelled(name)
        data = _read_regular(root, name, max_file_bytes)
        if data is None:
            if name in OPTIONAL_FILES:
                continue
            raise SourceError(f"{name}: missing from the source directory")
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        (dest / name).write_bytes(data)


def _read_regular(root: Path, name: str, max_bytes: int) -> bytes | None:
    """A regular file under root, read within max_bytes; None if absent. Symlinks anywhere below root
    are refused (a link to /proc/self/environ would store the process environment)."""
    parts = PurePosixPath(name).parts
    here = root
    for i, part in enumerate(parts):
        here = here / part
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(st.st_mode):
            raise SourceError(f"{name}: is or passes through a symbolic link; expected a regular file")
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return None
    try:
        fd = os.open(here, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        raise SourceError(f"{name}: cannot be opened as a regular file") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise SourceError(f"{name}: not a regular file")
        data = fh.read(max_bytes + 1)  # sizes of special files lie (0 for /proc): count what is read
    if len(data) > max_bytes:
        raise SourceError(f"{name}: more than the limit of {max_bytes} bytes")
    return data


def _download(
    client: httpx.Client, url: str, label: str, max_bytes: int, deadline: float, cancelled: Callable[[], bool]
) -> bytes:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise SourceError(f"{label}: download deadline passed")
    with client.stream("GET", url, timeout=httpx.Timeout(remaining)) as r:
        if r.status_code != 200:
            raise SourceError(f"{label}: HTTP {r.status_code}")
        declared = r.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise SourceError(f"{label}: {declared} bytes, more than the limit of {max_bytes}")
        body = bytearray()
        for chunk in r.iter_bytes():  # as it arrives: a trickle meets the deadline check at every piece
            body.extend(chunk)
            if len(body) > max_bytes:
                raise SourceError(f"{label}: more than the limit of {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise SourceError(f"{label}: download deadline passed")
            if cancelled():
                raise Cancelled(label)
        return bytes(body)


def _fetch_manifest(url: str, dest: Path, limits: Limits, deadline: float, cancelled: Callable[[], bool]) -> None:
    shown = redact(url)
    try:
        with httpx.Client(transport=_CheckedTransport(limits.allowed_networks), follow_redirects=False) as client:
            try:
                manifest = json.loads(_download(client, url, shown, limits.max_file_bytes, deadline, cancelled))
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise SourceError(f"{shown}: manifest is not valid JSON") from None
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if not isinstance(files, dict):
                raise SourceError(f"{shown}: manifest has no 'files' mapping")
            missing = set(ASSUMPTION_FILES) - set(files)
            if missing:
                raise SourceError(f"{shown}: manifest lacks {sorted(missing)}")
            targets = {_safe_relative(str(name)): urljoin(url, str(ref)) for name, ref in files.items()}
            for rel, target in targets.items():
                if urlsplit(target).scheme not in ("http", "https"):
                    raise SourceError(f"{rel}: not an http(s) URL")
            for rel, target in targets.items():
                data = _download(client, target, rel, limits.max_file_bytes, deadline, cancelled)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                (dest / rel).write_bytes(data)
    except httpx.TimeoutException:
        raise SourceError(f"{shown}: download deadline passed") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"{shown}: {type(exc).__name__}") from None
