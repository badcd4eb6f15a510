"""One module per collector; `registry.py` turns them into an enabled, scheduled set."""
