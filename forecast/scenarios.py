"""Scenarios as overrides of named parameters, on top of the calibrated base."""

from __future__ import annotations

from collections.abc import Mapping

from forecast.schemas import Assumptions, Parameter


class UnknownScenarioError(KeyError):
    """A scenario name that the assumptions do not define."""

    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(f"unknown scenario {name!r}; expected one of {known}")


def scenario_names(a: Assumptions) -> list[str]:
    """Scenario names, base first."""
    return sorted(a.scenarios, key=lambda n: (n != "base", n))


def resolve_parameters(
    a: Assumptions, scenario: str, calibrated: Mapping[str, Parameter] | None = None
) -> dict[str, Parameter]:
    """Parameters of a scenario: assumptions, calibrated values (unless it opts out), then its overrides."""
    if scenario not in a.scenarios:
        raise UnknownScenarioError(scenario, scenario_names(a))
    params = dict(a.parameters)
    if a.scenarios[scenario].calibrated:
        params.update(calibrated or {})
    for name, new in a.scenarios[scenario].overrides.items():
        params[name] = a.parameters[name].with_values(new)
    return params


def apply_overrides(
    params: Mapping[str, Parameter], overrides: Mapping[str, float | dict[int, float]]
) -> dict[str, Parameter]:
    """Parameters with what-if overrides applied (each validated against its range)."""
    out = dict(params)
    for name, new in overrides.items():
        if name not in out:
            raise KeyError(f"unknown parameter {name!r}")
        out[name] = out[name].with_values(new)
    return out
