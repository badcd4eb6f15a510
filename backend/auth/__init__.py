"""Credentials: agent tokens (what agents ingest with), user passwords and login sessions, and the
`auth:` settings. Who may call which route is decided in `backend.api.deps`."""
