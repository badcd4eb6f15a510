"""Live fan-out: accepted samples → Redis pub/sub → every backend process → WebSocket clients."""
