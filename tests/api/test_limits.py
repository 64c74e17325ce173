"""Bounds that hold in one process: rate buckets, the admin failure throttle, the byte-bounded response
cache with gzip made once per entry, spreadsheet-safe CSV, and the settings that refuse weak values."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from api.limits import FailureThrottle, TokenBuckets
from api.render import FORMULA_PREFIXES, neutralised, to_csv_bytes
from api.settings import MIN_ADMIN_TOKEN_CHARS, Settings
from api.state import Rendered, ResponseCache


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 50),
    burst=st.integers(1, 20),
    gaps=st.lists(st.floats(0, 2), min_size=1, max_size=200),
)
def test_a_client_never_gets_more_than_its_burst_plus_the_rate(rate, burst, gaps):
    buckets = TokenBuckets(rate, burst, max_keys=8)
    t, granted = 0.0, 0
    for gap in gaps:
        t += gap
        wait = buckets.take("client", now=t)
        assert wait >= 0
        granted += wait == 0.0
    assert granted <= burst + rate * t + 1e-9


def test_a_refused_client_is_told_when_a_token_is_back():
    buckets = TokenBuckets(rate_per_s=0.5, burst=1, max_keys=8)
    assert buckets.take("a", now=0.0) == 0.0
    assert buckets.take("a", now=0.0) == pytest.approx(2.0)
    assert buckets.take("b", now=0.0) == 0.0  # per client
    assert buckets.take("a", now=2.0) == 0.0


def test_the_rate_limit_forgets_the_least_recent_clients_first():
    buckets = TokenBuckets(rate_per_s=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        buckets.take(key, now=0.0)
    assert buckets.take("a", now=0.0) == 0.0  # forgotten, so a fresh bucket
    assert buckets.take("c", now=0.0) > 0


def test_failed_admin_attempts_block_a_client_until_they_age_out():
    throttle = FailureThrottle(max_failures=3, window_s=10, max_clients=8)
    for t in (0.0, 1.0, 2.0):
        assert throttle.blocked_for("x", now=t) == 0.0
        throttle.failed("x", now=t)
    assert throttle.blocked_for("x", now=3.0) == pytest.approx(7.0)
    assert throttle.blocked_for("y", now=3.0) == 0.0
    assert throttle.blocked_for("x", now=10.5) == 0.0


def test_the_response_cache_is_bounded_in_bytes():
    cache = ResponseCache(max_entries=1000, max_bytes=10_000)
    for i in range(50):
        cache.put((i,), Rendered(b"x" * 1000, "application/json", str(i)))
        assert cache.bytes <= 10_000
    assert len(cache) == 10
    assert cache.get((49,)) is not None
    assert cache.get((0,)) is None
    cache.put(("huge",), Rendered(b"x" * 20_000, "application/json", "h"))
    assert cache.get(("huge",)) is None
    assert cache.bytes <= 10_000


def test_a_cached_body_is_gzipped_once_when_cached():
    body = b'{"records": [' + b"1.5, " * 5000 + b"1]}"
    hit = Rendered.make(body, "application/json", "e", gzip_min_bytes=1024)
    assert gzip.decompress(hit.gzipped) == body
    assert hit.size == len(body) + len(hit.gzipped)
    assert Rendered.make(b"{}", "application/json", "e", gzip_min_bytes=1024).gzipped is None


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_every_formula_start_is_neutralised_in_csv(prefix):
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
    df = pd.DataFrame({"company": [f"{prefix}1+1", "plain"], "value": [-1.5, 2.0], f"{prefix}col": ["a", "b"]})
    out = neutralised(df)
    assert out["company"].tolist() == [f"'{prefix}1+1", "plain"]
    assert out["value"].tolist() == [-1.5, 2.0]  # numbers stay numbers
    assert f"'{prefix}col" in out.columns
    assert f"'{prefix}1+1".encode() in to_csv_bytes(df, "v1") or prefix in ("\t", "\r")


def test_a_short_admin_token_is_refused():
    with pytest.raises(ValidationError, match=f"at least {MIN_ADMIN_TOKEN_CHARS}"):
        Settings(ADMIN_TOKEN="x" * (MIN_ADMIN_TOKEN_CHARS - 1))
    assert Settings(ADMIN_TOKEN="x" * MIN_ADMIN_TOKEN_CHARS).admin_token


def test_list_settings_read_comma_separated_environment_values():
    s = Settings(REFRESH_ALLOWED_SOURCES="https://a.example/x/, /srv/assumptions", FETCH_ALLOWED_NETWORKS="10.0.0.0/8")
    assert s.refresh_allowed_sources == ["https://a.example/x/", "/srv/assumptions"]
    assert [str(n) for n in s.fetch_allowed_networks] == ["10.0.0.0/8"]
