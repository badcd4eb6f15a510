"""HostPulse dashboards: the real-time web UI and provisioned Grafana dashboards."""
