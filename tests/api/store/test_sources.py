"""A refresh source cannot be turned against the service: addresses checked after DNS resolution, one
deadline for the whole download, nothing of a failed fetch echoed or stored, no symlinks followed,
credentials redacted, and no SQL or stack text in the reasons."""

from __future__ import annotations

import http.server
import ipaddress
import json
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from api.settings import Settings
from api.store.refresh import refresh
from api.store.repository import Store
from api.store.sources import ASSUMPTION_FILES, Limits, SourceError, address_allowed, fetch, redact
from tests.api.store.conftest import BUNDLED, copy_assumptions

SECRET = "s3cr3t-content-of-an-internal-page"
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
N_PATHS = 300


@contextmanager
def serving(handler_cls) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()


class Secret(http.server.BaseHTTPRequestHandler):
    """An internal page: answers every path with a secret, 200 on /ok, 404 elsewhere."""

    def do_GET(self):
        body = SECRET.encode()
        self.send_response(200 if self.path.startswith("/ok") else 404)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Trickle(http.server.BaseHTTPRequestHandler):
    """A source that sends one byte every 0.2 s, forever (each read is quick; the whole never ends)."""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            for _ in range(10_000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("fd00::1", False),
        ("fe80::1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
    ],
)
def test_only_public_addresses_are_fetched_by_default(address, allowed):
    assert address_allowed(ipaddress.ip_address(address)) is allowed


def test_an_allowed_network_opens_a_private_range():
    assert address_allowed(ipaddress.ip_address("10.1.2.3"), (ipaddress.ip_network("10.0.0.0/8"),))
    assert not address_allowed(ipaddress.ip_address("10.1.2.3"), (ipaddress.ip_network("fd00::/8"),))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "169.254.169.254", "[::1]"])
def test_loopback_and_internal_hosts_are_refused_after_resolution(tmp_path, host):
    with serving(Secret) as base:
        port = base.rsplit(":", 1)[1]
        with pytest.raises(SourceError, match="not allowed") as err:
            fetch(f"http://{host}:{port}/ok/manifest.json", tmp_path / "d", Limits())
    assert SECRET not in str(err.value)


def test_a_failed_fetch_echoes_nothing_it_read(tmp_path):
    with serving(Secret) as base:
        limits = Limits(allowed_networks=LOOPBACK)
        for path in ("/missing.json", "/ok/manifest.json"):  # 404 with a body; 200 that is not JSON
            with pytest.raises(SourceError) as err:
                fetch(base + path, tmp_path / path.strip("/").replace("/", "_"), limits)
            assert SECRET not in str(err.value), err.value


def test_a_manifest_naming_other_files_is_refused_without_echoing_them(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    files = {f: f"x/{f}" for f in ASSUMPTION_FILES} | {SECRET: "/etc/passwd"}
    (site / "manifest.json").write_text(json.dumps({"files": files}))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with serving(handler) as base, pytest.raises(SourceError) as err:
        fetch(base + "/manifest.json", tmp_path / "d", Limits(allowed_networks=LOOPBACK))
    assert "not an assumptions file" in str(err.value)
    assert SECRET not in str(err.value)


def test_one_deadline_bounds_the_whole_download(tmp_path):
    with serving(Trickle) as base:
        start = time.monotonic()
        with pytest.raises(SourceError, match="deadline"):
            fetch(base + "/manifest.json", tmp_path / "d", Limits(timeout_s=1.5, allowed_networks=LOOPBACK))
        assert time.monotonic() - start < 5  # the per-read timeout alone would wait for ever


def test_symlinks_in_a_directory_source_are_refused(tmp_path):
    src = copy_assumptions(tmp_path / "src")
    (src / "README.md").unlink()
    (src / "README.md").symlink_to("/proc/self/environ")
    with pytest.raises(SourceError, match=r"README.md: is or passes through a symbolic link"):
        fetch(str(src), tmp_path / "d", Limits())
    src2 = copy_assumptions(tmp_path / "src2")
    shutil.move(src2 / "series", tmp_path / "elsewhere")
    (src2 / "series").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SourceError, match="symbolic link"):
        fetch(str(src2), tmp_path / "d2", Limits())


def test_credentials_in_urls_are_redacted():
    assert redact("https://user:pw@host/m.json") == "https://***@host/m.json"
    assert redact("see http://h/m.json?token=abc&x=1 and https://h/a?X-Amz-Signature=zz") == (
        "see http://h/m.json?token=***&x=1 and https://h/a?X-Amz-Signature=***"
    )
    assert redact("postgresql+psycopg://magnet:pw@db:5432/magnet") == "postgresql+psycopg://***@db:5432/magnet"


@pytest.fixture()
def store(db_url) -> Store:
    s = Store(db_url)
    s.migrate()
    return s


def test_credentials_of_a_source_url_are_not_stored_returned_or_logged(store, changed_dir, tmp_path, caplog):
    site = tmp_path / "site"
    shutil.copytree(changed_dir, site / "v2")
    (site / "manifest.json").write_text(json.dumps({"files": {f: f"v2/{f}" for f in ASSUMPTION_FILES}}))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    settings = Settings(MONTE_CARLO_PATHS=N_PATHS, FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
    with serving(handler) as base:
        url = base.replace("http://", "http://reader:hunter2pw@") + "/manifest.json?token=tok3n"
        r = refresh(store, url, settings)
        bad = refresh(store, url.replace("manifest.json", "none.json"), settings)
    assert r.status == "activated", (r, bad)
    assert bad.status == "rejected", (r, bad)
    with store.engine.connect() as conn:
        dumped = json.dumps(
            [list(row) for row in conn.execute(text("SELECT origin, validation_report FROM assumption_versions"))]
            + [list(row) for row in conn.execute(text("SELECT source, reasons FROM refresh_runs"))],
            default=str,
        )
    shown = json.dumps([v.to_dict() for v in store.versions()] + store.runs() + [bad.to_dict()])
    for text_ in (dumped, shown, caplog.text):
        assert "hunter2pw" not in text_
        assert "tok3n" not in text_
    assert "***@" in dumped


def test_refresh_reasons_carry_no_sql_or_stack_text(store, monkeypatch):
    def broken(self):
        raise OperationalError("SELECT secret_column FROM assumption_versions WHERE x = 1", {}, Exception("boom"))

    monkeypatch.setattr(Store, "active", broken)
    r = refresh(store, str(BUNDLED), Settings(MONTE_CARLO_PATHS=N_PATHS))
    assert r.status == "failed"
    assert r.reasons == [f"database error (OperationalError) in step validated; see the service log, run {r.run_id}"]
    monkeypatch.undo()
    assert store.runs()[0]["reasons"] == r.reasons
