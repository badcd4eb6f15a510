"""HostPulse exporter: the host-metrics agent."""

__version__ = "0.1.0"
