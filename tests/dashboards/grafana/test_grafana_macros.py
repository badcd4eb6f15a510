"""The tests' Grafana interpolation against the examples in Grafana's documentation (the PromQL
and SQL tests trust it, so it is checked on its own)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.dashboards.grafana.grafana_macros import (
    ALL,
    TimeRange,
    Variable,
    expand_promql,
    expand_sql,
)

# The range of the PostgreSQL documentation's examples.
DOCS_RANGE = TimeRange(
    datetime(2017, 4, 21, 5, 1, 17, tzinfo=UTC), datetime(2017, 4, 21, 5, 6, 17, tzinfo=UTC)
)


def test_postgres_macros_as_documented() -> None:
    assert (
        expand_sql("WHERE $__timeFilter(time_column)", [], DOCS_RANGE)
        == "WHERE time_column BETWEEN '2017-04-21T05:01:17Z' AND '2017-04-21T05:06:17Z'"
    )
    assert expand_sql("$__timeFrom() $__timeTo()", [], DOCS_RANGE) == (
        "'2017-04-21T05:01:17Z' '2017-04-21T05:06:17Z'"
    )
    assert (
        expand_sql("SELECT $__timeGroupAlias(dateColumn,'5m')", [], DOCS_RANGE)
        == 'SELECT floor(extract(epoch from dateColumn)/300)*300 AS "time"'
    )
    assert expand_sql("$__timeGroup(dateColumn,'5m')", [], DOCS_RANGE) == (
        "floor(extract(epoch from dateColumn)/300)*300"
    )
    assert expand_sql("$__unixEpochFrom() $__unixEpochTo()", [], DOCS_RANGE) == (
        "1492750877 1492751177"
    )
    assert expand_sql("$__unixEpochFilter(t)", [], DOCS_RANGE) == (
        "t >= 1492750877 AND t <= 1492751177"
    )
    # 300 s over 1,000 points is under the 1 s minimum: $__interval is 1s.
    assert expand_sql("$__timeGroupAlias(at, $__interval)", [], DOCS_RANGE) == (
        'floor(extract(epoch from at)/1)*1 AS "time"'
    )


def test_sql_multi_value_variables_are_quoted_lists() -> None:
    hosts = Variable("host", ["web-1", "o'brien"], ["web-1", "o'brien", "db"])
    assert expand_sql("host IN ($host)", [hosts], DOCS_RANGE) == "host IN ('web-1','o''brien')"
    every = Variable("host", [ALL], ["a", "b"])
    assert expand_sql("ARRAY[${host}]", [every], DOCS_RANGE) == "ARRAY['a','b']"


def test_prometheus_variables_and_intervals() -> None:
    one_hour = TimeRange(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC), 1000, 10
    )
    hosts = Variable("host", ["a.example", "b"], ["a.example", "b", "c"])
    assert expand_promql('x{host_name=~"$host"}', [hosts], one_hour, 10) == (
        'x{host_name=~"(a\\\\.example|b)"}'
    )
    single = Variable("host", ["b"], ["b", "c"])
    assert expand_promql('x{host_name=~"${host}"}', [single], one_hour, 10) == ('x{host_name=~"b"}')
    every = Variable("host", [ALL], ["b", "c"], all_value=".+")
    # 3600 s / 1000 points = 4 s, below timeInterval 10 s: $__interval 10s; rate window
    # max(10 + 10, 40) = 40s.
    assert (
        expand_promql(
            'rate(x{host_name=~"$host"}[$__rate_interval]) $__interval $__range',
            [every],
            one_hour,
            10,
        )
        == 'rate(x{host_name=~".+"}[40s]) 10s 3600s'
    )
