"""The dashboard in a real headless Chromium: the page loads, every chart draws, no console errors."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHARTS = ("chart-demand", "chart-drivers", "chart-gap", "chart-binding", "chart-elements", "chart-tornado")
PAGE_TIMEOUT_S = 60


@pytest.fixture()
def browser():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1500,1900",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait_ready(driver) -> None:
    WebDriverWait(driver, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script("return document.body.dataset.ready") == "true"
    )


def test_dashboard_draws_every_chart_without_console_errors(server, browser):
    browser.get(server + "/")
    _wait_ready(browser)
    for chart in CHARTS:
        el = browser.find_element(By.ID, chart)
        assert el.get_attribute("data-drawn") == "true", chart
        assert el.find_elements(By.CSS_SELECTOR, ".main-svg"), f"{chart} has no plot"
        traces = browser.execute_script(f"return document.getElementById('{chart}').data.length")
        assert traces >= 2, chart
    version = browser.find_element(By.ID, "version").text
    assert len(version) == 12
    assert "ratio" in browser.find_element(By.ID, "calibration-card").text
    assert "tension" in browser.find_element(By.ID, "calibration-card").text
    scenario_rows = browser.find_elements(By.CSS_SELECTOR, "#scenarios-table tbody tr")
    assert {"base", "uncalibrated"} <= {r.find_elements(By.TAG_NAME, "td")[0].text for r in scenario_rows}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sources tbody tr")) >= 20
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    Select(browser.find_element(By.ID, "scenario")).select_by_value("rare_earth_free")
    _wait_ready(browser)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
