"""Alert rules and the pure engine that decides state transitions (Prometheus semantics)."""
