"""Protobuf messages HostPulse needs that no maintained PyPI package ships (Prometheus' prompb)."""
