"""Forwarding: every accepted sample, sent on to long-term stores in Prometheus remote_write 1.0."""
