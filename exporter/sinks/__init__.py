"""Outputs: each turns `Snapshot`s into one protocol (Prometheus pull, OTLP push, JSON push)."""
