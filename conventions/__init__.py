"""The agent<->backend contract, shared by both: metric kinds and Prometheus naming, durations,
how settings are read and their errors worded, and the JSON report schema."""
