"""Property-based tests of the whole OpenAPI schema: no 5xx, responses match the schema."""

from __future__ import annotations

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings

MAX_EXAMPLES = 25
# Cross-parameter rules (start <= end) cannot be written in OpenAPI, so a schema-valid request may be
# rightly refused with 422; every other check runs (no 5xx, status codes, content types, body schemas).
EXCLUDED = [schemathesis.checks.positive_data_acceptance]


WORKBOOK_BUILD_TIMEOUT_S = 300


def test_every_operation_conforms_to_its_schema(server):
    # the workbook is built once per version (tens of seconds, 2.6 M cells) and then served from the
    # cache; build it first so the 10 s per-request timeout below checks the contract, not that build
    assert httpx.get(f"{server}/v1/export.xlsx", timeout=WORKBOOK_BUILD_TIMEOUT_S).status_code == 200
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    failures: dict[str, str] = {}
    calls = {"n": 0}
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            calls["n"] += 1
            case.call_and_validate(excluded_checks=EXCLUDED)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them together
            causes = "; ".join(f"{type(e).__name__}: {e}" for e in getattr(exc, "exceptions", ()))
            failures[op.label] = f"{type(exc).__name__}: {exc} {causes}"[:2000]
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert calls["n"] >= 5 * len(operations)  # the run really exercised the API
