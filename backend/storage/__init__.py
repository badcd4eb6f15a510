"""PostgreSQL and Redis storage: migrations, batching writer, rollups, history, recent window."""
