"""The dashboard in a real headless Chromium: the page loads, every chart draws, no console errors."""

from __future__ import annotations

from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHARTS = (
    "chart-demand",
    "chart-drivers",
    "chart-gap",
    "chart-binding",
    "chart-elements",
    "chart-balance",
    "chart-tornado",
)
PAGE_TIMEOUT_S = 60


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

    # the pipeline table filters by company and status; the binding stage is listed for both chains
    rows = browser.find_elements(By.CSS_SELECTOR, "#pipeline-table tbody tr")
    assert len(rows) >= 90
    browser.find_element(By.ID, "f-company").send_keys("REalloys")
    filtered = browser.find_elements(By.CSS_SELECTOR, "#pipeline-table tbody tr")
    assert 0 < len(filtered) < len(rows)
    assert all("REalloys" in r.text for r in filtered)
    Select(browser.find_element(By.ID, "f-status")).select_by_value("financed")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#pipeline-table tbody tr")) <= len(filtered)
    binding = browser.find_elements(By.CSS_SELECTOR, "#binding-table tbody tr")
    assert binding
    assert all(s in binding[0].text for s in ("t,", "next"))
    Select(browser.find_element(By.ID, "balance-material")).select_by_value("Dy")
    WebDriverWait(browser, PAGE_TIMEOUT_S).until(
        lambda d: d.execute_script("return document.getElementById('chart-balance').dataset.material") == "Dy"
    )

    Select(browser.find_element(By.ID, "scenario")).select_by_value("rare_earth_free")
    _wait_ready(browser)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
