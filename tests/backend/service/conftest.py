"""Moved to `tests.backend.running`. Kept only because `tests/dashboards/test_ui.py` (edited on the
web-UI branch of issue 12) imports these from here: delete this folder once it imports them from
`tests.backend.running`."""

from tests.backend.running import AUTH, TOKEN, agent_report

__all__ = ["AUTH", "TOKEN", "agent_report"]
