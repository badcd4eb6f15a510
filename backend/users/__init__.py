"""User accounts, passwords and login sessions."""
