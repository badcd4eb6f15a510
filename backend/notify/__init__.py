"""Notifications: webhooks (Alertmanager's body), an Alertmanager client, the delivery log."""
