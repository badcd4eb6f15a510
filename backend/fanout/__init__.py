"""What every accepted batch becomes in Redis: one pass over its samples splits it by host
(`host_split`), and one EVALSHA (`redis_script`) stores each host's window entry and publishes the
live bundle and the alert feed message."""
