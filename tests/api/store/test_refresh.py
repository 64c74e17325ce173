"""Versioned store and refresh on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import pytest
import yaml

from api.settings import Settings
from api.store.refresh import refresh
from api.store.repository import Store
from api.store.sources import ASSUMPTION_FILES
from tests.api.store.conftest import BUNDLED, copy_assumptions, edit_parameter, wait_for
from tests.payloads import file_creating_pickle

N_PATHS = 300  # small Monte Carlo: these tests are about the store, not the bands
LEASE_S = 3  # short refresh leases: a killed holder is replaced within seconds
SETTINGS = Settings(MONTE_CARLO_PATHS=N_PATHS, REFRESH_LEASE_S=LEASE_S)
LOOPBACK = Settings(MONTE_CARLO_PATHS=N_PATHS, REFRESH_LEASE_S=LEASE_S, FETCH_ALLOWED_NETWORKS="127.0.0.0/8")


def fresh_store(url: str) -> Store:
    s = Store(url)
    s.migrate()
    return s


@pytest.fixture()
def store(db_url) -> Store:
    s = fresh_store(db_url)
    first = refresh(s, str(BUNDLED), SETTINGS, origin="bundled")
    assert first.status == "activated", first
    return s


def test_first_refresh_activates_and_the_same_again_changes_nothing(store):
    active = store.active()
    assert active.status == "active"
    assert active.origin == "bundled"
    again = refresh(store, str(BUNDLED), SETTINGS)
    assert again.status == "unchanged", again
    assert again.version == active.short_id
    assert len(store.versions()) == 1


def test_a_changed_directory_becomes_active_with_a_readable_diff(store, changed_dir):
    before = store.active()
    r = refresh(store, str(changed_dir), SETTINGS)
    assert r.status == "activated"
    after = store.active()
    assert after.short_id == r.version != before.short_id
    assert {v.short_id: v.status for v in store.versions()}[before.short_id] == "superseded"
    d = store.diff(after.short_id)
    assert d["previous"] == before.short_id
    change = next(c for c in d["changes"] if c["key"] == "ev.motor_kg.BEV")
    cited = yaml.safe_load((BUNDLED / "parameters.yaml").read_text())["ev.motor_kg.BEV"]["source"]
    assert (change["field"], change["old"], change["new"], change["source"]) == ("value", 1.5, 1.6, cited)
    bundle = store.load_bundle(after.id)  # served without refitting
    assert bundle.version == after.short_id
    assert bundle.fits is not None


def test_rollback_reactivates_the_previous_version(store, changed_dir):
    first = store.active()
    refresh(store, str(changed_dir), SETTINGS)
    store.activate(first.short_id)
    assert store.active().short_id == first.short_id
    statuses = [v.status for v in store.versions()]
    assert statuses.count("active") == 1


def _bad(kind: str, d: Path) -> str:
    """Break an assumptions copy in one way; return a text the rejection reasons must contain."""
    if kind == "corrupt_csv":
        (d / "series" / "wind_installations.csv").write_text('year,region\n"unterminated,2020\n\x00\x00')
        return "wind_installations.csv"
    if kind == "wrong_encoding":
        (d / "sources.yaml").write_bytes(
            # latin-1 cannot hold the Japanese quotes: they become "?", the file is still not UTF-8
            (d / "sources.yaml").read_text().replace("Outlook", "Outl\xf6ok").encode("latin-1", errors="replace")
        )
        return "UTF-8"
    if kind == "huge_file":
        with (d / "supply" / "projects.csv").open("ab") as fh:
            fh.truncate(100 * 1024 * 1024)
        return "more than the limit"
    if kind == "nan":
        p = d / "series" / "ev_car_sales.csv"
        p.write_text(p.read_text().replace("2023,World,BEV,9500000", "2023,World,BEV,NaN"))
        return "ev_car_sales.csv"
    if kind == "negative":
        edit_parameter(d, "ev.motor_kg.BEV", value=-1.0, low=-2.0)
        return "negative"
    if kind == "unit_changed":
        edit_parameter(d, "ev.motor_kg.BEV", unit="motors_per_vehicle")
        return "ev.motor_kg.BEV.unit"
    if kind == "missing_source":
        p = d / "parameters.yaml"
        import yaml

        data = yaml.safe_load(p.read_text())
        del data["wind.t_per_mw.direct_drive"]["source"]
        p.write_text(yaml.safe_dump(data, sort_keys=False))
        return "source"
    if kind == "formula_cell":
        p = d / "supply" / "projects.csv"
        lines = p.read_text().splitlines()
        lines[1] = lines[1].replace("MP Materials", "=cmd|' /C calc'!A0", 1)
        p.write_text("\n".join(lines) + "\n")
        return "formula-like"
    if kind == "implausible_jump":
        p = d / "series" / "wind_installations.csv"
        text = p.read_text()
        row = next(line for line in text.splitlines() if line.startswith("2024,World,onshore,"))
        value = row.split(",")[3]
        p.write_text(text.replace(row, row.replace(f",{value},", f",{float(value) * 10},", 1)))
        return "jumps"
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "corrupt_csv",
        "wrong_encoding",
        "huge_file",
        "nan",
        "negative",
        "unit_changed",
        "missing_source",
        "formula_cell",
        "implausible_jump",
    ],
)
def test_bad_inputs_are_rejected_with_reasons_and_the_last_good_version_stays(store, tmp_path, kind):
    before = store.active()
    d = copy_assumptions(tmp_path / kind)
    needle = _bad(kind, d)
    r = refresh(store, str(d), Settings(MONTE_CARLO_PATHS=N_PATHS, MAX_FILE_BYTES=10 * 1024 * 1024))
    assert r.status == "rejected", r
    assert any(needle in reason for reason in r.reasons), r.reasons
    assert store.active().short_id == before.short_id
    run = store.runs()[0]
    assert run["status"] == "rejected"
    assert run["reasons"]


def test_an_http_source_served_on_loopback(store, changed_dir, tmp_path):
    site = tmp_path / "site"
    shutil.copytree(changed_dir, site / "v2")
    (site / "manifest.json").write_text(json.dumps({"files": {f: f"v2/{f}" for f in ASSUMPTION_FILES}}))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/manifest.json"
        refused = refresh(store, url, SETTINGS)  # loopback is not fetched unless allowed
        assert refused.status == "rejected", refused
        assert "not allowed" in refused.reasons[0], refused
        r = refresh(store, url, LOOPBACK)
        assert r.status == "activated", r
        assert store.active().origin == url
        small = refresh(
            store, url, Settings(MONTE_CARLO_PATHS=N_PATHS, MAX_FILE_BYTES=2048, FETCH_ALLOWED_NETWORKS="127.0.0.1/32")
        )
        assert small.status == "rejected"
        assert "limit" in small.reasons[0]
        missing = refresh(store, url.replace("manifest.json", "nothing.json"), LOOPBACK)
        assert missing.status == "rejected"
        assert "404" in missing.reasons[0]
    finally:
        httpd.shutdown()


def _cli_refresh(db_url: str, source: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "refresh", "--source", str(source)],
        env={**os.environ, "DATABASE_URL": db_url, "REFRESH_LEASE_S": str(LEASE_S), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_two_refreshes_at_once_give_one_new_version(store, changed_dir):
    url = store.url
    n_before = len(store.versions())
    procs = [_cli_refresh(url, changed_dir), _cli_refresh(url, changed_dir)]
    outs = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    statuses = sorted(o["status"] for o in outs)
    assert statuses in (["activated", "locked"], ["activated", "unchanged"]), statuses
    assert len(store.versions()) == n_before + 1
    assert [v.status for v in store.versions()].count("active") == 1


@pytest.mark.parametrize("stage", ["fetched", "validated", "fitted", "committing"])
def test_kill_9_during_a_refresh_leaves_the_store_consistent(store, changed_dir, stage):
    before = store.active()
    n_before = len(store.versions())
    proc = _cli_refresh(store.url, changed_dir, {"MAGNET_FORECAST_FAULT_PAUSE": stage})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == f"paused at {stage}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    fresh = Store(store.url)  # a new process's view of the database
    assert fresh.active().short_id == before.short_id
    assert len(fresh.versions()) == n_before  # nothing half-written, not even inside the transaction
    # the next refresh takes the lock back, records the dead run as failed, and succeeds
    assert wait_for(lambda: refresh(fresh, str(changed_dir), SETTINGS).status == "activated", 60, 1)
    assert any(r["status"] == "failed" for r in fresh.runs())
    assert fresh.active().short_id != before.short_id


# --- Versions stored by an older format of the code -------------------------------------------------


def _strip_file(store: Store, ref: str, name: str) -> None:
    """Rewrite a stored version's files without one file, as an older assumptions format stored it."""
    import io
    import zipfile

    from sqlalchemy.orm import Session

    from api.store.db import Version

    with Session(store.engine) as s, s.begin():
        v = s.get(Version, store.active().id if ref == "active" else ref)
        src, out = zipfile.ZipFile(io.BytesIO(v.files)), io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for item in src.namelist():
                if item != name:
                    dst.writestr(item, src.read(item))
        v.files = out.getvalue()


def _rewrite_bundle(store: Store, edit) -> None:
    """Rewrite the active version's stored forecast archive: ``edit(name, data) -> data | None`` per member."""
    import io
    import zipfile

    from sqlalchemy.orm import Session

    from api.store.db import Version

    with Session(store.engine) as s, s.begin():
        v = s.get(Version, store.active().id)
        src, out = zipfile.ZipFile(io.BytesIO(v.bundle)), io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for item in src.namelist():
                data = edit(item, src.read(item))
                if data is not None:
                    dst.writestr(item, data)
        v.bundle = out.getvalue()


def _set_row_bundle(store: Store, blob: bytes) -> None:
    from sqlalchemy.orm import Session

    from api.store.db import Version

    with Session(store.engine) as s, s.begin():
        s.get(Version, store.active().id).bundle = blob


def _age_bundle(store: Store) -> None:
    """Mark the active version's stored forecast as written by bundle format 1."""

    def edit(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return json.dumps({**json.loads(data), "format": 1}).encode()

    _rewrite_bundle(store, edit)


def test_a_pickle_in_the_forecast_column_is_refused_never_run(store, tmp_path):
    from api.store.repository import InvalidBundle

    marker = tmp_path / "ran"
    _set_row_bundle(store, file_creating_pickle(marker))
    with pytest.raises(InvalidBundle, match="not a zip archive"):
        store.load_bundle(store.active().id)
    assert not marker.exists()


def test_a_tampered_table_in_a_stored_forecast_is_refused_naming_it(store):
    from api.store.repository import InvalidBundle

    _rewrite_bundle(store, lambda name, data: b"not parquet" if name == "gap.parquet" else data)
    with pytest.raises(InvalidBundle, match=r"gap\.parquet is not valid Parquet"):
        store.load_bundle(store.active().id)


def test_a_tampered_manifest_in_a_stored_forecast_is_refused_naming_the_field(store):
    from api.store.repository import InvalidBundle

    def edit(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        doc = json.loads(data)
        doc["data"]["calibration"]["target_ratio"] = "four"
        return json.dumps(doc).encode()

    _rewrite_bundle(store, edit)
    with pytest.raises(InvalidBundle, match="target_ratio"):
        store.load_bundle(store.active().id)


def test_a_tampered_forecast_is_rebuilt_from_the_version_files_when_served(store):
    active = store.active()
    _set_row_bundle(store, b"garbage")
    service = _service(store_url(store), refresh_on_start=False)
    service.start()
    try:
        assert service.wait_started(300)
        assert service.state.bundle.version == active.short_id
        assert store.load_bundle(active.id).version == active.short_id  # the rebuilt archive was saved
    finally:
        service.stop()


def _service(db_url: str, refresh_on_start: bool, source: Path = BUNDLED):
    import logging

    from api.service import ForecastService
    from api.settings import Settings
    from api.state import ForecastState

    settings = Settings(
        DATABASE_URL=db_url,
        REFRESH_LEASE_S=LEASE_S,
        REFRESH_ON_START=refresh_on_start,
        SCHEDULER_ENABLED=False,
        MONTE_CARLO_PATHS=N_PATHS,
        ASSUMPTIONS_DIR=str(source),
    )
    return ForecastService(settings, ForecastState(8), logging.getLogger("test"))


def test_a_previous_version_in_an_older_format_does_not_block_a_refresh(store, changed_dir):
    _strip_file(store, "active", "series/ev_commercial_sales.csv")
    r = refresh(store, str(changed_dir), SETTINGS)
    assert r.status == "activated", r
    assert any("older assumptions format" in w and "ev_commercial_sales.csv" in w for w in r.warnings)


def test_a_stored_forecast_of_an_older_format_is_rebuilt_when_served(store):
    from api.store.repository import OutdatedBundle
    from forecast.bundle import BUNDLE_FORMAT

    active = store.active()
    _age_bundle(store)
    with pytest.raises(OutdatedBundle, match="format 1"):
        store.load_bundle(active.id)
    service = _service(store_url(store), refresh_on_start=False)
    service.start()
    assert service.wait_started(300)
    assert service.state.bundle.version == active.short_id
    assert service.state.bundle.format == BUNDLE_FORMAT
    assert store.load_bundle(active.id).format == BUNDLE_FORMAT  # saved: other replicas need not rebuild


def test_an_active_version_this_code_cannot_read_is_not_served_and_ready_says_the_remedy(store):
    _strip_file(store, "active", "series/ev_commercial_sales.csv")
    _age_bundle(store)
    service = _service(store_url(store), refresh_on_start=False)
    service.start()
    assert not service.wait_started(120)
    assert re.search(r"older assumptions format.*REFRESH_ON_START=true", service.problem), service.problem


def test_start_up_with_refresh_replaces_an_unreadable_active_version(store, changed_dir):
    """An upgrade: the stored version predates a format change, the source is in the current format."""
    old = store.active()
    _strip_file(store, "active", "series/ev_commercial_sales.csv")
    _age_bundle(store)
    service = _service(store_url(store), refresh_on_start=True, source=changed_dir)
    service.start()
    assert service.wait_started(300)
    assert store.active().id != old.id
    assert service.state.bundle.version == store.active().short_id


def test_activating_a_version_this_code_cannot_read_is_refused(store, changed_dir):
    first = store.active()
    assert refresh(store, str(changed_dir), SETTINGS).status == "activated"
    _strip_file(store, first.id, "series/ev_commercial_sales.csv")
    with pytest.raises(ValueError, match="format this code cannot read"):
        store.activate(first.short_id)


def store_url(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)
