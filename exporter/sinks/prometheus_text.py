"""A fast encoder for the families HostPulse exposes, byte-identical to prometheus_client's.

prometheus_client validates and escapes every name on every sample (~10 µs per series); our names
are already valid (`conventions.naming` sanitises them, `Metric()` validates family names), so only
label values and HELP text need escaping. Tests check the output equals prometheus_client's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

from prometheus_client import exposition
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as openmetrics

TEXT = "text"
OPENMETRICS = "openmetrics"


def negotiate(accept: str | None) -> tuple[str, str] | None:
    """(format, content type) for an Accept header; None when only prometheus_client can answer."""
    encoder, content_type = exposition.choose_encoder(accept or "")
    func = encoder.func if isinstance(encoder, partial) else encoder
    if func is exposition.generate_latest:
        return TEXT, content_type
    if func is openmetrics.generate_latest and content_type.startswith(
        "application/openmetrics-text; version=1.0.0;"
    ):
        return OPENMETRICS, content_type
    return None


def _value(value: float) -> str:
    # Same digits as prometheus_client.utils.floatToGoString (Go switches to exponents sooner).
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _label_value(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _sample_lines(family: Metric, out: list[str]) -> None:
    append = out.append
    for sample in family.samples:
        labels = sample.labels
        value = _value(float(sample.value))
        if labels:
            pairs = ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items()))
            append(f"{sample.name}{{{pairs}}} {value}\n")
        else:
            append(f"{sample.name} {value}\n")


def render_text(families: Sequence[Metric]) -> bytes:
    """Prometheus text format 0.0.4, as `prometheus_client.generate_latest` writes it."""
    out: list[str] = []
    for family in families:
        name, kind = family.name, family.type
        if kind == "counter":
            name += "_total"
        elif kind == "info":
            name, kind = name + "_info", "gauge"
        help_text = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
        _sample_lines(family, out)
    return "".join(out).encode("utf-8")


def render_openmetrics(families: Sequence[Metric]) -> bytes:
    """OpenMetrics 1.0.0 text, as prometheus_client's OpenMetrics `generate_latest` writes it."""
    out: list[str] = []
    for family in families:
        name = family.name
        help_text = _label_value(family.documentation)
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} {family.type}\n")
        if family.unit:
            out.append(f"# UNIT {name} {family.unit}\n")
        _sample_lines(family, out)
    out.append("# EOF\n")
    return "".join(out).encode("utf-8")


def render(families: Sequence[Metric], format_name: str) -> bytes:
    return render_openmetrics(families) if format_name == OPENMETRICS else render_text(families)
