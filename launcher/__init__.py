"""`hostpulse up`: the whole stack on one machine, with embedded PostgreSQL and Redis."""
