"""User accounts and their roles: the store, the first admin, `hostpulse-backend user create`."""
