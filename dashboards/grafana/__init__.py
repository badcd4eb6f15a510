"""Grafana dashboards and provisioning for HostPulse, generated from Python (`generate.py`)."""
