"""HTTP request and response shapes (pydantic), documented in the OpenAPI schema."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Versioned(BaseModel):
    assumptions_version: str = Field(description="Content hash of the assumptions the answer was computed from.")


class HealthResponse(BaseModel):
    status: Literal["ok"]
    assumptions_version: str | None = None


class ReadyResponse(Versioned):
    ready: bool
    loaded_at: float | None = Field(default=None, description="Unix time the version was activated.")
    reason: str | None = Field(default=None, description="Why nothing is served yet.")
    database: str = Field(default="ok", description="'ok', or why the last contact with the store failed.")


class ScenarioTotals(BaseModel):
    year: int
    ndfeb_t: float = Field(description="World NdFeB magnet demand, finished basis [t/yr].")
    ndpr_oxide_t: float = Field(description="Nd + Pr primary oxide needed, net of recycled swarf [t/yr].")
    dy_oxide_t: float = Field(description="Dy primary oxide needed [t/yr].")
    ndfeb_p5: float | None = None
    ndfeb_p95: float | None = None


class ScenarioInfo(BaseModel):
    name: str
    description: str
    source: str
    note: str | None = None
    calibrated: bool = Field(
        description="Whether the scenario carries the calibration's move; False: sourced central values "
        "(the scenario is off the calibration, or its target is out of reach)."
    )
    overrides: dict[str, float | dict[str, float]]
    totals: list[ScenarioTotals] = Field(description="Totals in the scenarios table's years (2030, 2040).")


class ScenariosResponse(Versioned):
    scenarios: list[ScenarioInfo]


class DemandRecord(BaseModel):
    year: int
    scenario: str
    segment: str
    region: Literal["china", "europe", "united_states", "rest_of_world"] | None = Field(
        default=None,
        description="With by=region: where the products are sold or installed (the regions add up to the world).",
    )
    material: Literal["NdFeB", "Nd", "Pr", "Dy", "Tb"]
    basis: Literal["finished", "blank", "alloy", "oxide"] = Field(
        description="Magnet tonnage basis of t_magnet and t_metal rows; 'oxide' for oxide rows."
    )
    unit: Literal["t_magnet", "t_metal", "t_oxide", "t_oxide_gross"]
    value: float = Field(
        description="t/yr: magnet (t_magnet), element in the magnet (t_metal), primary oxide needed net of recycled "
        "swarf (t_oxide) or before it (t_oxide_gross)."
    )
    p5: float | None = Field(default=None, description="Monte Carlo quantiles (with quantiles=true), t/yr.")
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None


class DemandResponse(Versioned):
    scenario: str
    records: list[DemandRecord]


class DriverRecord(BaseModel):
    year: int
    scenario: str
    driver: str = Field(
        description="ev_car_sales.BEV/PHEV, ev_commercial_sales.bus/truck/van, wind_installs.onshore/offshore."
    )
    unit: Literal["vehicles", "units", "GW"] = Field(description="vehicles or units a year, or GW a year.")
    kind: Literal["history", "projection"]
    value: float
    p5: float | None = Field(
        default=None, description="Monte Carlo quantiles of the driver (equal to value in history years)."
    )
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None


class DriversResponse(Versioned):
    scenario: str
    records: list[DriverRecord]


class SupplyRecord(BaseModel):
    year: int
    chain: Literal["outside_china", "china_free"]
    stage: Literal["mine", "separation", "metal", "alloy", "magnet", "recycling"]
    weighting: Literal["nameplate", "risked"]
    material: Literal["NdFeB", "NdPr", "Dy", "Tb"]
    capacity_t: float = Field(
        description="t/yr: NdFeB-equivalent, or NdPr / Dy / Tb oxide; nameplate, or risked expected output."
    )
    p10: float | None = Field(default=None, description="Monte Carlo P10 of risked output (risked rows).")
    p50: float | None = None
    p90: float | None = None


class SupplyResponse(Versioned):
    records: list[SupplyRecord]


class GapRecord(BaseModel):
    year: int
    scenario: str
    chain: Literal["outside_china", "china_free"]
    region: Literal["world", "ex_china"]
    stage: Literal["mine", "separation", "metal", "alloy", "magnet", "recycling", "chain"]
    material: Literal["NdFeB", "NdPr", "Dy", "Tb"]
    demand_t: float
    supply_nameplate_t: float
    supply_risked_t: float
    gap_t: float
    gap_nameplate_t: float
    coverage: float | None
    coverage_nameplate: float | None
    binding_stage: str = Field(description="The stage that limits the chain's risked output this year.")
    binding_stage_t: float = Field(description="Risked magnet-equivalent the binding stage allows [t/yr].")
    next_stage: str = Field(description="The second-tightest stage.")
    next_stage_t: float = Field(description="Its magnet-equivalent [t/yr]: the headroom above the binding stage.")
    supply_p10_t: float | None = Field(default=None, description="Monte Carlo P10 of risked supply at this stage.")
    supply_p90_t: float | None = None


class GapResponse(Versioned):
    scenario: str
    records: list[GapRecord]


class ProjectRecord(BaseModel):
    id: str
    project: str
    company: str
    country: str
    stage: Literal["mine", "separation", "metal", "alloy", "magnet", "recycling"]
    unit: str
    basis: Literal["product", "feed", "ore"]
    capacity: float | None = Field(description="Nameplate in the unit; null where not published.")
    first_year: int
    status: Literal["operating", "construction", "financed", "feasibility", "announced", "suspended"]
    financing: Literal["none", "letter_of_interest", "conditional_commitment", "offtake_signed", "fid"]
    china_feed_share: float = Field(description="Share of the plant's feed bought from China [-].")
    ownership: Literal["non_chinese", "chinese_minority", "chinese_controlled"]
    feeds: str | None = Field(description="The plant this one feeds (then it is not counted on its own).")
    expands: str | None = Field(description="The site this row expands.")
    ndpr_share_of_treo: float | None
    status_source: str
    financing_source: str
    source_title: str
    source_publisher: str
    source_url: str
    note: str | None
    output_latest_year: int | None = Field(description="Last year with published output.")
    output_latest_t: float | None = Field(description="Published output that year [t, in the unit].")
    risk_probability: float = Field(description="Probability of producing (status or financing stage).")
    risk_delay_years: float = Field(description="Expected delay of the first year.")


class ProjectsResponse(Versioned):
    records: list[ProjectRecord]


class BalanceRecord(BaseModel):
    year: int
    scenario: str
    material: Literal["NdFeB", "NdPr", "Dy", "Tb"]
    unit: Literal["t_magnet", "t_oxide"]
    china_t: float = Field(description="China: magnet output (NdFeB) or oxide from separation (NdPr, Dy, Tb).")
    rest_of_world_t: float = Field(description="Plants outside China, risked output.")
    recycled_t: float = Field(description="Swarf and end-of-life recovery, world (oxide lines).")
    supply_t: float
    demand_t: float = Field(description="World demand.")
    deficit_t: float = Field(description="demand - supply; negative = surplus.")
    china_kind: Literal["history", "interpolated", "projection", "backcast"]


class BalanceResponse(Versioned):
    scenario: str
    records: list[BalanceRecord]


class MovedParameterOut(BaseModel):
    name: str
    unit: str
    before: float
    after: float
    low: float
    high: float
    z: float = Field(description="Standardized move: prior standard deviations (the range is a 95% interval).")
    source: str


class TensionOut(BaseModel):
    chi2: float
    dof: int
    p_value: float
    sigma: float
    meaning: str


class EndUseBoundOut(BaseModel):
    year: int
    end_use: str
    segments: str = Field(description="Model segments the published figure covers, joined by '+'.")
    basis: Literal["finished", "blank", "alloy"]
    published_t: float
    low_t: float = Field(description="Low end of the published range [t].")
    high_t: float | None = Field(description="High end of the published range [t]; null for a lower bound.")
    evidence_t: float = Field(description="The model's tonnage on the evidence (no calibration) [t].")
    moved_t: float = Field(description="The model's tonnage after the reported move [t].")
    within: bool = Field(description="Whether the moved tonnage lies within [low_t, high_t].")
    source: str


class CalibrationResponse(Versioned):
    quantity: str
    statement: str
    source: str
    interpretation: str
    provenance: dict[str, str]
    base_year: int
    target_year: int
    target_ratio: float
    uncalibrated_ratio: float
    achieved_ratio: float
    reachable_ratio: float
    tolerance: float
    within_tolerance: bool
    reachable: bool
    method: str
    tension: TensionOut
    history: dict[str, float | str | None]
    parameters: list[MovedParameterOut]
    end_uses: list[EndUseBoundOut] = Field(
        description="Published end-use tonnages the calibrated base-year mix must keep (series/ndfeb_end_use.csv)."
    )
    uplift_by_segment: dict[str, float]
    uplift_applied: bool


class SensitivityRow(BaseModel):
    name: str
    unit: str
    low_value: float
    high_value: float
    output_low: float
    output_high: float
    S1: float
    S1_conf: float
    ST: float
    ST_conf: float


class SensitivityResponse(Versioned):
    scenario: str
    year: int
    output: str
    unit: str
    central: float
    parameters: list[SensitivityRow]


class BacktestRecord(BaseModel):
    series: str
    model: str
    horizon: int
    n: int
    mape: float | None
    mae: float | None
    mase: float | None = Field(description="MAE relative to naive drift at the same horizon and origins.")
    coverage_80: float | None
    coverage_95: float | None
    chosen: bool
    weight: float
    interval_stretch_80: float | None = Field(
        default=None, description="Ensemble rows: log-scale stretch of the 80% interval from the backtest errors."
    )
    interval_stretch_95: float | None = Field(
        default=None, description="Ensemble rows: log-scale stretch of the 95% interval from the backtest errors."
    )


class BacktestResponse(Versioned):
    rule: str
    records: list[BacktestRecord]


class ParameterInfo(BaseModel):
    name: str
    value: float | None
    trajectory: dict[str, float] | None
    unit: str
    low: float
    high: float
    source: str
    note: str | None


class SourceInfo(BaseModel):
    id: str
    title: str
    publisher: str
    year: int
    url: str
    quote: str | None = None
    note: str | None = None


class AssumptionsResponse(Versioned):
    parameters: list[ParameterInfo]
    sources: list[SourceInfo]
    projects: int = Field(description="Number of supply projects in the pipeline.")


class ProjectIn(BaseModel):
    """A what-if supply project (same fields as assumptions/supply/projects.csv)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    project: str = Field(default="what-if project", min_length=2, max_length=200)
    company: str = Field(default="what-if", min_length=2, max_length=200)
    country: str = Field(default="n/a", min_length=2, max_length=100)
    stage: Literal["mine", "separation", "metal", "alloy", "magnet", "recycling"]
    unit: str
    capacity: float = Field(ge=0, le=1e7)
    first_year: int = Field(ge=1950, le=2100)
    years_to_full: int = Field(default=1, ge=1, le=30)
    status: Literal["operating", "construction", "financed", "feasibility", "announced", "suspended"] = "announced"
    financing: Literal["none", "letter_of_interest", "conditional_commitment", "offtake_signed", "fid"] = "none"
    china_feed_share: float = Field(default=0.0, ge=0, le=1)
    ndpr_share_of_treo: float | None = Field(default=None, ge=0, le=1)


class ForecastRequest(BaseModel):
    """A scenario plus what-if overrides of named parameters and extra projects."""

    # NaN, Infinity and overflowing numbers (1e400) are refused with 422 naming the field.
    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "scenario": "base",
                    "overrides": {"ev.motor_kg": 1.2, "ev.pm_motor_share": {"2024": 0.95, "2040": 0.7}},
                    "extra_projects": [
                        {
                            "id": "new_magnet_plant",
                            "stage": "magnet",
                            "unit": "t_NdFeB_magnet",
                            "capacity": 5000,
                            "first_year": 2028,
                            "status": "financed",
                        }
                    ],
                    "start": 2024,
                    "end": 2040,
                }
            ]
        },
    )

    scenario: str = "base"
    overrides: dict[str, float | dict[int, float]] = Field(
        default_factory=dict,
        description=(
            "Parameter name -> number or {year: number}. A number given for a trajectory parameter is applied "
            "to every one of its anchor years (a flat path at that level); its anchors are never dropped."
        ),
    )
    extra_projects: list[ProjectIn] = Field(default_factory=list)
    start: int | None = None
    end: int | None = None
    quantiles: bool = Field(default=False, description="Add Monte Carlo p5 .. p95 to the demand rows.")
    basis: Literal["finished", "blank", "alloy"] = Field(
        default="finished", description="Magnet basis of the bands (oxide rows always included)."
    )


class ForecastResponse(Versioned):
    scenario: str
    overrides: dict[str, float | dict[str, float]]
    demand: list[DemandRecord]
    gap: list[GapRecord]


class HindcastRow(BaseModel):
    year: int
    model_t: float = Field(description="Model world total on the published basis, t/yr.")
    published_t: float = Field(description="Published world tonnage, t/yr.")
    error: float = Field(description="model / published - 1.")
    source: str
    note: str | None = None


class EndUseRow(BaseModel):
    year: int
    end_use: str
    segments: str = Field(description="Model segments the published figure covers, joined by '+'.")
    model_t: float
    published_t: float
    error: float
    source: str
    note: str | None = None


class HindcastResponse(Versioned):
    end_uses: list[EndUseRow] = Field(description="Published end-use tonnages against the model's segments.")
    basis: Literal["finished", "blank", "alloy"]
    mape: float = Field(description="Mean absolute percentage error over the published years (fraction).")
    n_years: int
    rows: list[HindcastRow]


# --- The analyst's workbench: what-if inputs, scenarios side by side -----------------------------


class WhatIfSource(BaseModel):
    id: str
    title: str
    publisher: str
    year: int | None = None
    url: str


class WhatIfInputOut(BaseModel):
    name: str = Field(description="Parameter name, as POST /v1/forecast overrides address it.")
    label: str
    kind: Literal["value", "anchor", "path", "share"] = Field(
        description="value: a constant; anchor: a trajectory's value in `year`; path: reached in `year` and held "
        "after; share: a share-group member in `year`, the other members scaled to keep the sum 1."
    )
    year: int | None = None
    value: float = Field(description="The scenario's value (in `year` for trajectories), in `unit`.")
    unit: str
    low: float = Field(description="Lower bound of the sourced range.")
    high: float = Field(description="Upper bound of the sourced range.")
    note: str | None = None
    source: WhatIfSource
    trajectory: dict[str, float] | None = None
    swing_t: float | None = Field(default=None, description="2040 NdFeB swing over the range, when known [t/yr].")
    group: dict[str, dict[str, float | None]] | None = Field(
        default=None, description="Share inputs: every member's trajectory."
    )
    group_values: dict[str, float] | None = Field(default=None, description="Share inputs: every member in `year`.")


class WhatIfInputsResponse(Versioned):
    scenario: str
    ranked_by: str = Field(description="How the inputs are ordered.")
    inputs: list[WhatIfInputOut]


class WhatIfRun(BaseModel):
    """A scenario with what-if overrides, shown beside stored scenarios."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # NaN, Infinity, 1e400: 422 naming the field

    scenario: str = "base"
    overrides: dict[str, float | dict[int, float]] = Field(default_factory=dict)


class CompareRequest(BaseModel):
    """Scenarios (and optionally a what-if) side by side on one basis and unit."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "scenarios": ["base", "high", "thrifting"],
                    "what_if": {"scenario": "base", "overrides": {"ev.motor_kg.BEV": 1.2}},
                    "by": "segment",
                    "basis": "blank",
                    "unit": "magnet",
                }
            ]
        },
    )

    scenarios: list[str] = Field(min_length=1, max_length=20, description="Stored scenarios, in display order.")
    what_if: WhatIfRun | None = Field(default=None, description="Shown as the scenario 'what-if'.")
    measure: Literal["demand", "gap"] = Field(
        default="demand",
        description="demand: world demand; gap: demand outside China less each chain's risked output (by=total, "
        "NdFeB on the blank basis; items are the chains).",
    )
    by: Literal["total", "segment", "element"] = "total"
    basis: Literal["finished", "blank", "alloy"] = "finished"
    unit: Literal["magnet", "oxide"] = Field(
        default="magnet", description="magnet: t_magnet (elements: t_metal) on the basis; oxide: primary t_oxide."
    )
    quantiles: bool = Field(default=True, description="Monte Carlo P5-P95 where a band exists (totals, elements).")
    start: int | None = None
    end: int | None = None


class CompareRecord(BaseModel):
    year: int
    scenario: str
    item: str = Field(description="'total', a segment or an element.")
    unit: Literal["t_magnet", "t_metal", "t_oxide"]
    basis: Literal["finished", "blank", "alloy", "oxide"]
    value: float
    p5: float | None = None
    p10: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None


class CompareResponse(Versioned):
    measure: str
    by: str
    basis: str
    unit: str
    scenarios: list[str]
    records: list[CompareRecord]
