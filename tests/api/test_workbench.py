"""The analyst's workbench in a real headless Chromium: what-if, scenarios side by side, CSV downloads, shared URLs.

Screenshots of each state go to artifacts/ (kept by CI).
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pandas as pd
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
TIMEOUT_S = 90
KG_INPUT = "wi-ev_motor_kg_BEV"


def _wait(driver, script: str, expected=True, timeout: float = TIMEOUT_S):
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script) == expected)


def _ready(driver) -> None:
    _wait(driver, "return document.body.dataset.ready", "true")
    _wait(driver, "return document.getElementById('chart-compare').dataset.drawn", "true")
    _wait(driver, "return document.getElementById('chart-whatif-demand').dataset.drawn", "true")


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"workbench-{name}.png"))


def _set(driver, element_id: str, value: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(value, Keys.TAB)  # the change event fires when the field loses focus


def _what_if_done(driver, after_seq: int) -> None:
    state = "const s = document.getElementById('whatif');"
    _wait(driver, f"{state} return s.dataset.state === 'done' && +s.dataset.seq > {after_seq}")


def _seq(driver) -> int:
    return int(driver.execute_script("return +(document.getElementById('whatif').dataset.seq || 0)"))


def _whatif_2040(driver) -> float:
    text = driver.find_element(By.ID, "whatif-demand-2040").text
    return float(text.replace(",", ""))


def _severe(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "422" not in e["message"]]


def test_what_if_panel_moves_demand_and_gap_and_refuses_bad_input(server, browser):
    # on the evidence (central values), so a what-if can move the motor mass either way
    browser.get(server + "/?scenario=uncalibrated")
    _ready(browser)
    assert browser.find_element(By.ID, "scenario").get_attribute("value") == "uncalibrated"
    field = browser.find_element(By.ID, KG_INPUT)
    assert field.get_attribute("min") == "1.1"
    assert field.get_attribute("max") == "2"
    label = browser.find_element(By.CSS_SELECTOR, f"label[for='{KG_INPUT}']").get_attribute("title")
    assert "kg_per_motor" in label
    assert "Source:" in label
    assert "http" in label
    _shot(browser, "1-start")

    seq = _seq(browser)
    _set(browser, KG_INPUT, "2.0")
    _what_if_done(browser, seq)
    heavy = _whatif_2040(browser)
    gap_heavy = float(browser.find_element(By.ID, "whatif-gap-outside_china").text.replace(",", ""))
    diff = browser.find_element(By.ID, "whatif-demand-diff").text
    assert diff.startswith("+")
    assert "%" in diff
    traces = browser.execute_script("return document.getElementById('chart-whatif-demand').data.map(t => t.name)")
    assert "what-if P5-P95" in traces
    assert "uncalibrated P5-P95" in traces
    _shot(browser, "2-what-if-heavier-motors")

    seq = _seq(browser)
    _set(browser, KG_INPUT, "1.1")
    _what_if_done(browser, seq)
    light = _whatif_2040(browser)
    gap_light = float(browser.find_element(By.ID, "whatif-gap-outside_china").text.replace(",", ""))
    assert light < heavy
    assert gap_light < gap_heavy
    assert browser.find_element(By.ID, "whatif-demand-diff").text.startswith("-")
    roundtrip_ms = int(browser.execute_script("return +document.getElementById('whatif').dataset.roundtripMs"))
    assert roundtrip_ms > 0
    print(f"what-if round trip in the browser: {roundtrip_ms} ms")

    # out of range: the form shows the API's message, the chart keeps the last good what-if
    api_message = httpx.post(
        server + "/v1/forecast", json={"scenario": "base", "overrides": {"ev.motor_kg.BEV": 9}}
    ).json()["details"][0]["message"]
    _set(browser, KG_INPUT, "9")
    _wait(browser, "return document.getElementById('whatif').dataset.state", "error")
    error = browser.find_element(By.ID, KG_INPUT + "-error").text
    assert error == api_message
    assert "outside its range" in error
    assert browser.find_element(By.ID, KG_INPUT).get_attribute("aria-invalid") == "true"
    assert _whatif_2040(browser) == light
    _shot(browser, "3-what-if-refused")
    assert not _severe(browser)


def test_scenarios_side_by_side_switch_basis_unit_and_view(server, browser):
    browser.get(server + "/")
    _ready(browser)
    chart = browser.find_element(By.ID, "chart-compare")
    chosen = chart.get_attribute("data-scenarios").split(",")
    assert len(chosen) >= 3
    assert chosen[0] == "base"
    names = browser.execute_script("return document.getElementById('chart-compare').data.map(t => t.name)")
    assert all(n in names for n in chosen)
    rows = browser.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")
    years = [r.get_attribute("data-key") for r in rows]
    assert {"2030", "2040", "2050"} <= set(years)
    assert all(int(y) % 5 == 0 for y in years)
    _shot(browser, "4-compare-totals")

    def redrawn(by: str, unit_text: str) -> None:
        _wait(browser, "return document.getElementById('compare').dataset.state", "done")
        _wait(browser, "return document.getElementById('chart-compare').dataset.by", by)
        _wait(browser, f"return document.getElementById('chart-compare').dataset.unit.startsWith('{unit_text}')")

    Select(browser.find_element(By.ID, "compare-basis")).select_by_value("blank")
    redrawn("total", "t_magnet (blank)")
    Select(browser.find_element(By.ID, "compare-by")).select_by_value("segment")
    redrawn("segment", "t_magnet (blank)")
    items = [r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")]
    assert "ev_bev" in items
    assert "wind_offshore" in items
    _shot(browser, "5-compare-segments-blank")
    Select(browser.find_element(By.ID, "compare-by")).select_by_value("element")
    Select(browser.find_element(By.ID, "compare-unit")).select_by_value("oxide")
    redrawn("element", "t_oxide (oxide)")
    items = [r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr")]
    assert items == ["Nd", "Pr", "Dy", "Tb"]
    header = browser.find_element(By.CSS_SELECTOR, "#compare-table thead").text
    assert f"{chosen[1]} vs base" in header
    _shot(browser, "6-compare-elements-oxide")

    # a what-if joins the comparison
    seq = _seq(browser)
    _set(browser, KG_INPUT, "1.2")
    _what_if_done(browser, seq)
    box = browser.find_element(By.ID, "cmp-what-if")
    assert box.is_enabled()
    box.click()
    _wait(browser, "return document.getElementById('chart-compare').dataset.scenarios.endsWith('what-if')")
    _shot(browser, "7-compare-with-what-if")
    assert not _severe(browser)


def _downloaded(browser, name: str) -> str:
    deadline = time.monotonic() + 30
    path = browser.downloads / name
    while time.monotonic() < deadline:
        if path.is_file() and not list(browser.downloads.glob("*.crdownload")):
            return path.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{name} was not downloaded; have {list(browser.downloads.iterdir())}")


def test_chart_csv_download_equals_the_api(server, browser):
    browser.get(server + "/")
    _ready(browser)
    version = browser.find_element(By.ID, "version").text
    browser.find_element(By.CSS_SELECTOR, "button.csv[data-chart='chart-demand']").click()
    text = _downloaded(browser, f"demand-{version}.csv")
    api = httpx.get(
        server + "/v1/demand",
        params={"scenario": "base", "element": "NdFeB", "unit": "t_magnet", "quantiles": "true", "format": "csv"},
    ).text
    assert text == api
    df = pd.read_csv(io.StringIO(text))
    assert set(df["assumptions_version"]) == {version}
    drawn = browser.execute_script(
        "return document.getElementById('chart-demand').data.filter(t => t.name === 'ev_bev')[0].y.length"
    )
    assert drawn == len(df[df["segment"] == "ev_bev"])

    # the comparison's download is the comparison's table
    browser.find_element(By.CSS_SELECTOR, "button.csv[data-chart='chart-compare']").click()
    text = _downloaded(browser, f"compare-{version}.csv")
    body = browser.execute_script("return SOURCES['chart-compare'].body")
    api = httpx.post(server + "/v1/compare?format=csv", json=body, timeout=60).text
    assert text == api
    every = browser.find_elements(By.CSS_SELECTOR, "button.csv")
    assert len(every) >= 9  # every chart has one
    link = browser.find_element(By.ID, "download-xlsx").get_attribute("href")
    assert link.endswith("/v1/export.xlsx")


def test_the_url_holds_the_view_and_restores_it(server, browser):
    browser.get(server + "/")
    _ready(browser)
    seq = _seq(browser)
    _set(browser, KG_INPUT, "1.8")
    _what_if_done(browser, seq)
    Select(browser.find_element(By.ID, "compare-unit")).select_by_value("oxide")
    _wait(browser, "return document.getElementById('chart-compare').dataset.unit.startsWith('t_oxide')")
    expected = _whatif_2040(browser)
    url = browser.current_url
    assert "whatif=ev.motor_kg.BEV%3A1.8" in url
    assert "unit=oxide" in url

    browser.delete_all_cookies()
    browser.get("about:blank")
    browser.get(url)
    _ready(browser)
    _wait(browser, "return document.getElementById('whatif').dataset.state", "done")
    assert browser.find_element(By.ID, KG_INPUT).get_attribute("value") == "1.8"
    assert browser.find_element(By.ID, "compare-unit").get_attribute("value") == "oxide"
    assert _whatif_2040(browser) == expected
    _shot(browser, "8-shared-url")
    assert not _severe(browser)
