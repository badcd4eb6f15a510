"""Grafana's query interpolation, reimplemented for the tests (no Grafana server can run here:
none is installable from the registries this machine reaches). Each rule follows Grafana's
documented behaviour (11.x):

Prometheus datasource (public/app/plugins/datasource/prometheus, `interpolateQueryExpr`):
- a multi-value or include-All variable: each value regex-escaped, one value as itself, several
  as `(a|b)`; All with a custom `allValue` is that value unescaped;
- `$__interval` = max(range / maxDataPoints, the datasource's `timeInterval`), `$__range` = the
  range in seconds (`60s`), `$__rate_interval` = max(`$__interval` + scrape interval,
  4 x scrape interval), where the scrape interval is the datasource's `timeInterval`.

PostgreSQL datasource (docs: grafana.com/docs/grafana/latest/datasources/postgres/query-editor/
"Macros"; RFC 3339 UTC times, seconds precision):
- `$__timeFilter(c)` → `c BETWEEN 'FROM' AND 'TO'`; `$__timeFrom()`/`$__timeTo()` → `'FROM'`/`'TO'`;
- `$__timeGroup(c, '5m')` → `floor(extract(epoch from c)/300)*300`, `$__timeGroupAlias` the same
  `AS "time"`; `$__unixEpochFrom()`/`$__unixEpochTo()` → epoch seconds;
  `$__unixEpochFilter(c)` → `c >= FROM AND c <= TO`;
- `$__interval` → e.g. `1m` (replaced before the macros), `$__interval_ms` → milliseconds;
- a multi-value variable → its values single-quoted and comma-separated (`'a','b'`); All
  without a custom `allValue` is every value."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

# Values of a variable as chosen in the picker; ALL means "All".
ALL = "$__all"


@dataclass(frozen=True)
class Variable:
    name: str
    selected: Sequence[str]  # [ALL] or the chosen values
    options: Sequence[str]  # every value the variable query returned
    multi: bool = True
    all_value: str | None = None


def _prometheus_regex_escape(value: str) -> str:
    # Grafana: value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}\[\]\'+?.()|]/g, '\\\\$&')
    value = value.replace("\\", "\\\\\\\\")
    return re.sub(r"[$^*{}\[\]'+?.()|]", lambda m: "\\\\" + m.group(0), value)


def prometheus_value(variable: Variable) -> str:
    if list(variable.selected) == [ALL]:
        if variable.all_value is not None:
            return variable.all_value
        values = list(variable.options)
    else:
        values = list(variable.selected)
    if not variable.multi:
        return values[0]
    escaped = [_prometheus_regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def sql_value(variable: Variable) -> str:
    if list(variable.selected) == [ALL]:
        if variable.all_value is not None:
            return variable.all_value
        values = list(variable.options)
    else:
        values = list(variable.selected)
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _duration(seconds: float) -> str:
    """Grafana's interval text: whole units (`1s`, `15s`, `2m`, `1h`), else milliseconds."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    max_data_points: int = 1000
    min_interval_s: float = 1.0  # the datasource's timeInterval

    @property
    def interval_s(self) -> float:
        raw = (self.end - self.start).total_seconds() / self.max_data_points
        return float(max(self.min_interval_s, math.ceil(raw)))


def _substitute_variables(text: str, variables: Sequence[Variable], render: str) -> str:
    for variable in sorted(variables, key=lambda v: -len(v.name)):
        value = prometheus_value(variable) if render == "prometheus" else sql_value(variable)
        pattern = re.compile(rf"\$\{{{variable.name}\}}|\${variable.name}\b")
        text = pattern.sub(value.replace("\\", "\\\\"), text)  # the value, literally
    return text


def expand_promql(
    text: str, variables: Sequence[Variable], time_range: TimeRange, scrape_interval_s: float
) -> str:
    interval = time_range.interval_s
    rate_interval = max(interval + scrape_interval_s, 4 * scrape_interval_s)
    range_s = int((time_range.end - time_range.start).total_seconds())
    text = text.replace("$__rate_interval", _duration(rate_interval))
    text = text.replace("$__interval_ms", str(int(interval * 1000)))
    text = text.replace("$__interval", _duration(interval))
    text = text.replace("$__range_s", str(range_s)).replace("$__range", f"{range_s}s")
    return _substitute_variables(text, variables, "prometheus")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(text: str) -> int:
    match = re.fullmatch(r"'?(\d+)(ms|s|m|h|d)'?", text.strip())
    if match is None:
        raise ValueError(f"not a Grafana interval: {text!r}")
    size = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    return max(1, int(int(match[1]) * size))


def expand_sql(text: str, variables: Sequence[Variable], time_range: TimeRange) -> str:
    start, end = _rfc3339(time_range.start), _rfc3339(time_range.end)
    epoch_start, epoch_end = int(time_range.start.timestamp()), int(time_range.end.timestamp())
    interval = time_range.interval_s
    text = text.replace("$__interval_ms", str(int(interval * 1000)))
    text = text.replace("$__interval", _duration(interval))
    text = _substitute_variables(text, variables, "sql")

    def group(match: re.Match[str], alias: bool) -> str:
        column, width = (part.strip() for part in match[1].split(",", 1))
        seconds = _seconds(width.split(",")[0])
        grouped = f"floor(extract(epoch from {column})/{seconds})*{seconds}"
        return grouped + (' AS "time"' if alias else "")

    text = re.sub(r"\$__timeGroupAlias\(([^)]*)\)", lambda m: group(m, True), text)
    text = re.sub(r"\$__timeGroup\(([^)]*)\)", lambda m: group(m, False), text)
    text = re.sub(
        r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m[1]} BETWEEN '{start}' AND '{end}'", text
    )
    text = re.sub(
        r"\$__unixEpochFilter\(([^)]*)\)",
        lambda m: f"{m[1]} >= {epoch_start} AND {m[1]} <= {epoch_end}",
        text,
    )
    text = re.sub(r"\$__time\(([^)]*)\)", lambda m: f'{m[1]} AS "time"', text)
    text = re.sub(
        r"\$__timeEpoch\(([^)]*)\)", lambda m: f'extract(epoch from {m[1]}) AS "time"', text
    )
    text = text.replace("$__timeFrom()", f"'{start}'").replace("$__timeTo()", f"'{end}'")
    text = text.replace("$__unixEpochFrom()", str(epoch_start))
    text = text.replace("$__unixEpochTo()", str(epoch_end))
    if "$__" in text:
        raise ValueError(f"a Grafana macro this test does not expand: {text}")
    return text
