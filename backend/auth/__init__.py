"""Who may send data: agent tokens for the ingest paths (user login comes in a later issue)."""
