"""The parameter registry: every name the model reads is registered, every required name is read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pytest

from forecast.bundle import gap_and_balance
from forecast.model import demand_for_params, horizon_years
from forecast.montecarlo import driver_quantile_table, quantile_table
from forecast.params import PARAMETERS, ParameterSpec, registered_parameters, required_parameters
from forecast.scenarios import resolve_parameters, scenario_names
from forecast.schemas import STATUSES, Parameter
from forecast.supply import risk, stage_capacity, supply_quantile_table

N_PATHS = 200


class RecordingParams(Mapping[str, Parameter]):
    """Only the registered parameters; records every name the model reads."""

    def __init__(self, params: Mapping[str, Parameter], allowed: set[str]):
        self._params = {k: v for k, v in params.items() if k in allowed}
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Parameter:
        self.read.add(name)
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)


def _walk(a, params: Mapping[str, Parameter], scenario: str) -> None:
    years = horizon_years(a)
    future = years[years >= 2024]
    demand_for_params(a, params, years)
    gap_and_balance(a, params, scenario, years, quantiles=False)
    stage_capacity(a, params, years)
    supply_quantile_table(a, params, years, n_paths=N_PATHS)
    quantile_table(a, params, scenario, future, N_PATHS)
    driver_quantile_table(a, params, scenario, years)
    for status in STATUSES:  # a what-if request may add a project of any status
        risk(params, status)


def test_every_code_path_runs_on_the_registered_parameters_alone(assumptions_fitted, calibration_fitted):
    a = assumptions_fitted
    allowed = set(registered_parameters(a.structure))
    read: set[str] = set()
    for scenario in scenario_names(a):
        params = RecordingParams(resolve_parameters(a, scenario, calibration_fitted.calibrated), allowed)
        _walk(a, params, scenario)  # a KeyError here names an unregistered parameter the model reads
        read |= params.read
    unread = sorted(set(required_parameters(a.structure)) - read)
    assert unread == [], f"registered as required but read by nothing: {unread}"


def test_the_bundled_parameters_are_exactly_the_registered_ones(assumptions):
    assert set(assumptions.parameters) == set(registered_parameters(assumptions.structure))


def test_placeholders_expand_from_the_structure(assumptions):
    spec = ParameterSpec("wind.{location}.share.{drivetrain}", "fraction", ("demand",))
    names = spec.names(assumptions.structure)
    assert "wind.offshore.share.direct_drive" in names
    assert len(names) == 2 * 4


def test_every_entry_names_a_unit_and_a_reader():
    for spec in PARAMETERS:
        assert spec.unit, spec.pattern
        assert spec.read_by, spec.pattern


@pytest.mark.parametrize(
    "name", ["regions.robots.share.china", "recycling.eol_collection_rate", "supply.status.announced.probability"]
)
def test_validation_names_a_missing_parameter_with_its_file(assumptions_copy, name):
    from forecast.loading import AssumptionsError, load_assumptions
    from tests.conftest import edit_parameters

    edit_parameters(assumptions_copy, lambda data: data.pop(name))
    with pytest.raises(AssumptionsError) as err:
        load_assumptions(assumptions_copy)
    assert f"parameters.yaml: {name}: missing" in str(err.value)


def test_validation_names_an_unregistered_parameter(assumptions_copy):
    from forecast.loading import AssumptionsError, load_assumptions

    path = assumptions_copy / "parameters.yaml"
    path.write_text(
        path.read_text() + "\nwind.onshore.rating_mw:\n  value: 3.0\n  unit: MW_per_turbine\n  low: 2.0\n"
        "  high: 6.0\n  source: project_assumption\n"
    )
    with pytest.raises(AssumptionsError, match=r"parameters.yaml: wind.onshore.rating_mw: not read by the model"):
        load_assumptions(assumptions_copy)


def test_validation_names_a_unit_other_than_the_registry(assumptions_copy):
    from forecast.loading import AssumptionsError, load_assumptions
    from tests.conftest import edit_parameters

    edit_parameters(assumptions_copy, lambda data: data["ev.motor_kg.BEV"].update(unit="fraction"))
    with pytest.raises(AssumptionsError, match=r"ev.motor_kg.BEV.unit: 'fraction'; expected 'kg_per_motor'"):
        load_assumptions(assumptions_copy)


def test_registry_names_are_unique(assumptions):
    names = [n for spec in PARAMETERS for n in spec.names(assumptions.structure)]
    assert len(names) == len(set(names))
    assert np.all([n.count("{") == 0 for n in names])
