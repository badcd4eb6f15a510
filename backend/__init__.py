"""HostPulse backend: ingest, storage, live fan-out and the read API."""
