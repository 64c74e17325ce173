"""Validated shapes of the assumption files (pydantic models).

Loading and error collection live in :mod:`forecast.loading`; this module only says what a valid
value looks like, so the model can trust what it receives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KNOWN_UNITS: frozenset[str] = frozenset(
    {
        "kg_per_motor",
        "kg_per_vehicle",
        "kg_per_unit",
        "units_per_year",
        "motors_per_vehicle",
        "fraction",
        "fraction_per_year",
        "vehicles",
        "vehicles_per_year",
        "GW",
        "GW_per_year",
        "t_per_MW",
        "MW_per_turbine",
        "t_magnet",
        "mass_fraction",
        "g_per_mol",
        "year",
        "years",
    }
)


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Frozen):
    """A publication cited by the assumptions."""

    title: str = Field(min_length=3)
    publisher: str = Field(min_length=2)
    year: int = Field(ge=1900, le=2100)
    url: str = Field(min_length=3)
    quote: str | None = None
    note: str | None = None

    @field_validator("url")
    @classmethod
    def _url_is_link_or_project_path(cls, url: str) -> str:
        if not (url.startswith(("http://", "https://")) or url.startswith("assumptions/")):
            raise ValueError("expected an http(s) URL or a path under assumptions/")
        return url


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("expected a finite number")
    return value


class Parameter(Frozen):
    """A named number: constant or trajectory, with unit, range and source."""

    value: float | None = None
    trajectory: dict[int, float] | None = None
    unit: str
    low: float
    high: float
    source: str
    note: str | None = None
    # Magnet basis of a magnet intensity (kg per motor, vehicle, unit, t per MW): the one its source
    # publishes; the model converts it to finished magnet once (forecast.basis).
    basis: Literal["finished", "blank", "alloy"] | None = None

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit not in KNOWN_UNITS:
            raise ValueError(f"unknown unit {unit!r}; expected one of {sorted(KNOWN_UNITS)}")
        return unit

    @field_validator("value", "low", "high")
    @classmethod
    def _finite_number(cls, v: float | None) -> float | None:
        return None if v is None else _finite(v)

    @field_validator("trajectory")
    @classmethod
    def _trajectory_ok(cls, traj: dict[int, float] | None) -> dict[int, float] | None:
        if traj is None:
            return None
        if not traj:
            raise ValueError("trajectory needs at least one {year: value}")
        for year, v in traj.items():
            if not 1950 <= year <= 2100:
                raise ValueError(f"trajectory year {year} outside 1950-2100")
            _finite(v)
        return dict(sorted(traj.items()))

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        if (self.value is None) == (self.trajectory is None):
            raise ValueError("give exactly one of 'value' or 'trajectory'")
        if self.low > self.high:
            raise ValueError(f"range low {self.low} > high {self.high}")
        if self.low < 0:
            raise ValueError(f"negative value not allowed: low = {self.low}")
        for v in self.points():
            if not self.low <= v <= self.high:
                raise ValueError(f"value {v} outside its range [{self.low}, {self.high}]")
        return self

    def points(self) -> list[float]:
        """All values this parameter takes at its anchor points."""
        return [self.value] if self.value is not None else list((self.trajectory or {}).values())

    def with_values(self, new: float | dict[int, float]) -> Parameter:
        """A copy with a new constant or trajectory (validated again).

        A number given for a trajectory is applied to every anchor year (a flat path on the same years),
        so that code reading the anchors never finds them gone.
        """
        data = self.model_dump()
        if not isinstance(new, dict) and self.trajectory is not None:
            new = {year: new for year in self.trajectory}
        if isinstance(new, dict):
            data.update(value=None, trajectory=new)
        else:
            data.update(value=new, trajectory=None)
        return Parameter.model_validate(data)


SEGMENT_KINDS: tuple[str, ...] = ("ev", "ev_commercial", "wind", "units", "trend")
# One registry of the regions demand is split into (where products are sold or installed), reused by
# the model, loading, CLI and API. Together they make the world; every region but China is "ex-China".
REGIONS: tuple[str, ...] = ("china", "europe", "united_states", "rest_of_world")
CHINA = "china"
EX_CHINA_REGIONS: tuple[str, ...] = tuple(r for r in REGIONS if r != CHINA)
# How a history series names the regions it publishes; its "Rest of world" (World less the others) is
# derived, so the model takes the rest of the world as the remainder instead of reading it.
HISTORY_REGIONS: dict[str, str] = {"China": "china", "Europe": "europe", "United States": "united_states"}
# How a segment's world demand is split into regions:
# - history: the region's share of a published series (ev_car_sales, wind_installations) in observed
#   years; regions the series lacks share the remainder by the anchors; after the last observed year a
#   straight line to the anchors regions.<split>.share.<region>;
# - shares: the anchors regions.<split>.share.<region> (published end-use shares) alone;
# - manufacturing: China's end use = China's manufacturing share x (1 - the share of its output it
#   exports); the rest of the world (made outside China, or made in China and exported: the magnets
#   embedded in China's exports) is split by regions.<split>.share.<ex-China region>.
SPLIT_METHODS: tuple[str, ...] = ("history", "shares", "manufacturing")
REGION_SERIES: tuple[str, ...] = ("ev_car_sales", "wind_installations")


class RegionSplit(Frozen):
    """How one group of segments is split into regions (see :data:`SPLIT_METHODS`)."""

    method: Literal["history", "shares", "manufacturing"]
    description: str
    series: Literal["ev_car_sales", "wind_installations"] | None = None

    @model_validator(mode="after")
    def _series_for_history(self) -> RegionSplit:
        if (self.method == "history") != (self.series is not None):
            raise ValueError(
                "a 'history' split needs a series (ev_car_sales or wind_installations); other methods none"
            )
        return self


class Segment(Frozen):
    """One end use of NdFeB: how it is driven and which magnet grade it uses.

    - ``ev``: electric-car traction (sales by powertrain x motors x PM share x kg per motor);
    - ``ev_commercial``: electric buses, trucks, vans (sales x car-motor equivalents);
    - ``wind``: GW installed x t/MW by drivetrain;
    - ``units``: any published unit driver (``driver``: a name of the driver table such as
      ``units.industrial_robots`` or ``cars.non_plugin``) x the ``shares`` (fractions) x
      ``intensity`` [kg finished magnet per unit];
    - ``trend``: a small residual (base-year tonnage x growth), allowed only under 5% of every year.
    """

    kind: Literal["ev", "ev_commercial", "wind", "units", "trend"]
    grade: Literal["high_coercivity", "standard"]
    description: str
    powertrain: Literal["BEV", "PHEV"] | None = None
    location: Literal["onshore", "offshore"] | None = None
    mode: Literal["bus", "truck", "van"] | None = None
    driver: str | None = None
    shares: tuple[str, ...] = ()
    intensity: str | None = None
    end_use: str = Field(default="other", min_length=2)
    # The regional split (a name of Structure.region_splits) and, for a 'history' split, the part of
    # the series the segment follows (BEV, PHEV, onshore, offshore, or total = all parts).
    region_split: str | None = None
    region_part: str | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> Segment:
        if self.kind == "ev" and self.powertrain is None:
            raise ValueError("an 'ev' segment needs a powertrain (BEV or PHEV)")
        if self.kind == "wind" and self.location is None:
            raise ValueError("a 'wind' segment needs a location (onshore or offshore)")
        if self.kind == "ev_commercial" and self.mode is None:
            raise ValueError("an 'ev_commercial' segment needs a mode (bus, truck or van)")
        if self.kind == "units" and (self.driver is None or self.intensity is None):
            raise ValueError("a 'units' segment needs a driver (units per year) and an intensity (kg per unit)")
        return self


class UnitDriver(Frozen):
    """A published count of products per year (robots installed, compressors, drives...)."""

    unit: Literal["vehicles", "units"]
    description: str


class Element(Frozen):
    oxide: str
    metal_atoms: int = Field(gt=0)
    oxygen_atoms: int = Field(gt=0)
    source: str


ELEMENTS: tuple[str, ...] = ("Nd", "Pr", "Dy", "Tb")


class Structure(Frozen):
    segments: dict[str, Segment]
    elements: dict[str, Element]
    unit_drivers: dict[str, UnitDriver] = Field(default_factory=dict)
    region_splits: dict[str, RegionSplit] = Field(default_factory=dict)

    def splits(self, *methods: str) -> list[str]:
        """Names of the regional splits made by one of ``methods`` (all when none is given)."""
        return [n for n, s in self.region_splits.items() if not methods or s.method in methods]

    supply_grade: Literal["high_coercivity", "standard"] = "high_coercivity"

    @field_validator("elements")
    @classmethod
    def _all_elements(cls, elements: dict[str, Element]) -> dict[str, Element]:
        missing = set(ELEMENTS) - set(elements)
        if missing:
            raise ValueError(f"missing elements {sorted(missing)}; expected {list(ELEMENTS)}")
        return elements


class Horizon(Frozen):
    first_year: int = Field(ge=1990, le=2100)
    last_year: int = Field(ge=1990, le=2100)
    stock_first_year: int = Field(ge=1950, le=2100)

    @model_validator(mode="after")
    def _ordered(self) -> Horizon:
        if self.first_year >= self.last_year:
            raise ValueError("first_year must be before last_year")
        if self.stock_first_year > self.first_year:
            raise ValueError("stock_first_year must not be after first_year")
        return self


class CalibrationTarget(Frozen):
    """A published demand ratio the base scenario is calibrated to, and the history it must keep."""

    quantity: str
    material: Literal["NdFeB"]
    unit: Literal["t_magnet"]
    base_year: int
    target_year: int
    ratio: float = Field(gt=0)
    tolerance: float = Field(gt=0, lt=1)
    source: str
    statement: str
    interpretation: str = ""
    # Published history the calibrated model must still meet (world totals, forecast.hindcast):
    # the base year within history_tolerance, and the hindcast MAPE at most history_mape_limit.
    history_tolerance: float = Field(default=0.09, gt=0, lt=1)
    history_mape_limit: float = Field(default=0.10, gt=0, lt=1)
    history_source: str | None = None
    # Uncertain inputs (forecast.priors) the calibration may not move.
    fixed: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _years(self) -> CalibrationTarget:
        if self.base_year >= self.target_year:
            raise ValueError("base_year must be before target_year")
        return self


class UncertaintyConfig(Frozen):
    """Monte Carlo settings: paths (rounded down to a power of two) and the segment that absorbs
    the base-year allocation (its base-year tonnage is the total less the other segments of the path)."""

    paths: int = Field(default=4096, ge=64, le=65536)
    residual_segment: str | None = None


class ModelConfig(Frozen):
    horizon: Horizon
    calibration: CalibrationTarget
    uncertainty: UncertaintyConfig = Field(default_factory=UncertaintyConfig)


class Scenario(Frozen):
    description: str
    source: str
    note: str | None = None
    # False: the scenario stays on the sourced central values (no calibrated move is applied).
    calibrated: bool = True
    overrides: dict[str, float | dict[int, float]] = Field(default_factory=dict)


class SeriesRow(Frozen):
    """One row of a history CSV."""

    year: int = Field(ge=1950, le=2100)
    region: str = Field(min_length=1)
    value: float = Field(ge=0)
    unit: str
    source: str = Field(min_length=1)
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _finite_value(cls, v: float) -> float:
        return _finite(v)


# "total" marks a year whose split is not published (BEV + PHEV, or onshore + offshore); the model
# splits it with the scenario's share parameter, the same one it uses for projected years.
TOTAL = "total"


class EvSalesRow(SeriesRow):
    powertrain: Literal["BEV", "PHEV", "total"]
    unit: Literal["vehicles"]


class WindRow(SeriesRow):
    location: Literal["onshore", "offshore", "total"]
    unit: Literal["GW"]


COMMERCIAL_MODES: tuple[str, ...] = ("bus", "truck", "van")


class CommercialSalesRow(SeriesRow):
    """Electric buses, trucks and vans sold (BEV + PHEV + FCEV: all have electric traction motors)."""

    mode: Literal["bus", "truck", "van"]
    unit: Literal["vehicles"]


class UnitSalesRow(SeriesRow):
    """Products sold or installed per year, one row per driver (``structure.unit_drivers``) and year."""

    driver: str = Field(pattern=r"^[a-z0-9_]+$")
    unit: Literal["vehicles", "units"]


BASES: tuple[str, ...] = ("finished", "blank", "alloy")


class NdfebHistoryRow(SeriesRow):
    """Published NdFeB production or consumption [t/yr] on a declared basis (for the hindcast)."""

    basis: Literal["finished", "blank", "alloy"]
    unit: Literal["t"]


class EndUseRow(SeriesRow):
    """A published NdFeB tonnage of one end use [t/yr], the model segments it covers ("a+b"), and its
    published range [t/yr]: the spread of independent estimates (``high`` empty for a lower bound).

    ``calibration``: the calibration keeps the model's tonnage within [low, high] (the base-year mix);
    rows whose sources define the end use differently are checks only.
    """

    end_use: str = Field(pattern=r"^[a-z0-9_]+$")
    segments: str = Field(pattern=r"^[a-z0-9_]+(\+[a-z0-9_]+)*$")
    basis: Literal["finished", "blank", "alloy"]
    unit: Literal["t"]
    low: float = Field(ge=0)
    high: float | None = Field(default=None, gt=0)
    calibration: bool = False

    @model_validator(mode="after")
    def _range(self) -> EndUseRow:
        if self.low > self.value or (self.high is not None and self.high < self.value):
            raise ValueError(f"expected low <= value <= high, got {self.low} <= {self.value} <= {self.high}")
        return self


@dataclass(frozen=True)
class SeriesSpec:
    """One history file: the Assumptions attribute, its path, its row schema and the column beside region."""

    name: str
    path: str
    row: type[SeriesRow]
    part: str
    # Driver series need every year from first to last; point observations (end-use tonnages) do not.
    consecutive: bool = True

    @property
    def keys(self) -> tuple[str, str]:
        return ("region", self.part)

    @property
    def values(self) -> tuple[str, ...]:
        """Allowed values of the part column, ``total`` excluded."""
        return tuple(v for v in get_args(self.row.model_fields[self.part].annotation) if v != TOTAL)

    @property
    def splits_a_total(self) -> bool:
        """True when the parts add up to a region's total (BEV + PHEV), False for independent series."""
        return TOTAL in get_args(self.row.model_fields[self.part].annotation)


SERIES: tuple[SeriesSpec, ...] = (
    SeriesSpec("ev_car_sales", "series/ev_car_sales.csv", EvSalesRow, "powertrain"),
    SeriesSpec("ev_commercial_sales", "series/ev_commercial_sales.csv", CommercialSalesRow, "mode"),
    SeriesSpec("wind_installations", "series/wind_installations.csv", WindRow, "location"),
    SeriesSpec("unit_sales", "series/unit_sales.csv", UnitSalesRow, "driver"),
    SeriesSpec("ndfeb_history", "series/ndfeb_history.csv", NdfebHistoryRow, "basis"),
    SeriesSpec("ndfeb_end_use", "series/ndfeb_end_use.csv", EndUseRow, "end_use", consecutive=False),
)


# One registry of supply-chain stages, statuses and financing stages, reused by loading, model, CLI and API.
CHAIN_STAGES: tuple[str, ...] = ("mine", "separation", "metal", "alloy", "magnet")
STAGES: tuple[str, ...] = (*CHAIN_STAGES, "recycling")
STATUSES: tuple[str, ...] = ("operating", "construction", "financed", "feasibility", "announced", "suspended")
FINANCING: tuple[str, ...] = ("none", "letter_of_interest", "conditional_commitment", "offtake_signed", "fid")
OWNERSHIP: tuple[str, ...] = ("non_chinese", "chinese_minority", "chinese_controlled")
# basis of a capacity figure: product (tonnes of the unit's product or contained oxide), feed (tonnes of
# material processed), ore (mined ore or concentrate mass, not contained oxide)
CAPACITY_BASES: tuple[str, ...] = ("product", "feed", "ore")
STAGE_UNITS: dict[str, frozenset[str]] = {
    "mine": frozenset({"t_TREO_concentrate", "t_NdPr_oxide"}),
    "separation": frozenset({"t_NdPr_oxide", "t_TREO_separated", "t_Dy_oxide", "t_Tb_oxide"}),
    "metal": frozenset({"t_NdPr_metal"}),
    "alloy": frozenset({"t_NdFeB_alloy"}),
    "magnet": frozenset({"t_NdFeB_magnet"}),
    "recycling": frozenset({"t_NdFeB_magnet", "t_magnet_feed", "t_TREO_separated"}),
}
# the bases on which each stage can count a capacity
STAGE_BASES: dict[str, frozenset[str]] = {
    **{s: frozenset({"product"}) for s in CHAIN_STAGES},
    "recycling": frozenset({"product", "feed"}),
}
FEED_UNITS: frozenset[str] = frozenset({"t_magnet_feed"})  # units that are a feed by definition
TREO_UNITS: frozenset[str] = frozenset({"t_TREO_concentrate", "t_TREO_separated"})
SUPPLY_UNITS: frozenset[str] = frozenset().union(*STAGE_UNITS.values())


class SupplyProject(Frozen):
    """One facility outside China at one stage of the mine-to-magnet chain (one row of supply/projects.csv)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    project: str = Field(min_length=2)
    company: str = Field(min_length=2)
    country: str = Field(min_length=2)
    stage: Literal["mine", "separation", "metal", "alloy", "magnet", "recycling"]
    unit: str
    basis: Literal["product", "feed", "ore"] = "product"
    capacity: float | None = Field(default=None, ge=0)
    first_year: int = Field(ge=1950, le=2100)
    years_to_full: int = Field(ge=1, le=30)
    status: Literal["operating", "construction", "financed", "feasibility", "announced", "suspended"]
    financing: Literal["none", "letter_of_interest", "conditional_commitment", "offtake_signed", "fid"] = "none"
    ndpr_share_of_treo: float | None = Field(default=None, ge=0, le=1)
    dy_share_of_treo: float | None = Field(default=None, ge=0, le=1)
    tb_share_of_treo: float | None = Field(default=None, ge=0, le=1)
    own_feed: bool = False
    feeds: str | None = None
    expands: str | None = None
    china_feed_share: float = Field(default=0.0, ge=0, le=1)
    ownership: Literal["non_chinese", "chinese_minority", "chinese_controlled"] = "non_chinese"
    status_source_url: str | None = Field(default=None, pattern=r"^https?://")
    financing_source_url: str | None = Field(default=None, pattern=r"^https?://")
    source_title: str = Field(min_length=3)
    source_publisher: str = Field(min_length=2)
    source_url: str = Field(pattern=r"^https?://")
    note: str | None = None

    @field_validator("capacity")
    @classmethod
    def _finite_capacity(cls, v: float | None) -> float | None:
        return None if v is None else _finite(v)

    @model_validator(mode="after")
    def _unit_fits_stage(self) -> SupplyProject:
        if self.unit not in SUPPLY_UNITS:
            raise ValueError(f"unknown unit {self.unit!r}; expected one of {sorted(SUPPLY_UNITS)}")
        if self.unit not in STAGE_UNITS[self.stage]:
            allowed = sorted(STAGE_UNITS[self.stage])
            raise ValueError(f"unit {self.unit!r} does not fit stage {self.stage!r}; expected one of {allowed}")
        if self.capacity is not None:
            if self.basis not in STAGE_BASES[self.stage] or (self.basis == "feed") != (self.unit in FEED_UNITS):
                want = "feed" if self.unit in FEED_UNITS else "product"
                raise ValueError(
                    f"capacity on a {self.basis!r} basis cannot be counted at stage {self.stage!r} in {self.unit!r}; "
                    f"expected basis {want!r} (or leave capacity empty and give the figure in the note)"
                )
            if self.unit in TREO_UNITS and self.ndpr_share_of_treo is None:
                raise ValueError(f"capacity in {self.unit!r} needs ndpr_share_of_treo (the deposit's NdPr share)")
        return self

    @property
    def status_source(self) -> str:
        """Where the status is published (the row's source unless a separate one is given)."""
        return self.status_source_url or self.source_url

    @property
    def financing_source(self) -> str:
        """Where the financing stage is published (the row's source unless a separate one is given)."""
        return self.financing_source_url or self.source_url


class OutputRow(Frozen):
    """One published yearly output of one project (one row of supply/output.csv)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    year: int = Field(ge=1950, le=2100)
    value: float = Field(ge=0)
    unit: str
    source: str = Field(min_length=1)
    note: str | None = None

    @field_validator("value")
    @classmethod
    def _finite_value(cls, v: float) -> float:
        return _finite(v)


CHINA_STAGES: tuple[str, ...] = ("mine", "separation", "imported_feed", "metal", "magnet")


class ChinaSupplyRow(Frozen):
    """One published figure of China's supply by stage (one row of supply/china.csv)."""

    year: int = Field(ge=1950, le=2100)
    stage: Literal["mine", "separation", "imported_feed", "metal", "magnet"]
    material: Literal["REO", "NdFeB"]
    value: float = Field(ge=0)
    unit: Literal["t_REO", "t_NdFeB_magnet"]
    source: str = Field(min_length=1)
    note: str | None = None

    @model_validator(mode="after")
    def _unit_fits(self) -> ChinaSupplyRow:
        want = "t_NdFeB_magnet" if self.material == "NdFeB" else "t_REO"
        if self.unit != want:
            raise ValueError(f"unit {self.unit!r} does not fit material {self.material!r}; expected {want!r}")
        return self


class Assumptions(BaseModel):
    """Everything the model reads, validated and cross-checked."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    sources: dict[str, Source]
    parameters: dict[str, Parameter]
    structure: Structure
    model: ModelConfig
    scenarios: dict[str, Scenario]
    ev_car_sales: pd.DataFrame  # year, region, powertrain, value [vehicles]
    ev_commercial_sales: pd.DataFrame  # year, region, mode, value [vehicles]
    wind_installations: pd.DataFrame  # year, region, location, value [GW]
    unit_sales: pd.DataFrame  # year, region, driver, value [vehicles or units]
    ndfeb_history: pd.DataFrame  # year, region, basis, value [t NdFeB]
    ndfeb_end_use: pd.DataFrame  # year, region, end_use, segments, basis, value [t NdFeB]
    projects: list[SupplyProject] = Field(default_factory=list)
    project_output: pd.DataFrame = Field(default_factory=pd.DataFrame)  # id, year, value, unit, source, note
    china_supply: pd.DataFrame = Field(default_factory=pd.DataFrame)  # year, stage, material, value, unit, source
    # Ensemble driver projections (forecast.backtest.driver_trends); empty = the capped logistic fit.
    driver_trends: dict[str, pd.DataFrame] = Field(default_factory=dict)

    def histories(self) -> dict[str, pd.DataFrame]:
        """Every history table by series name (see :data:`SERIES`)."""
        return {spec.name: getattr(self, spec.name) for spec in SERIES}
