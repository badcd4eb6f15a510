"""The backend's HTTP and WebSocket API: one router per resource under `routes/`."""
