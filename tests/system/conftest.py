"""Every test here is a `system` test: real processes, faults injected into them."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/system/" in str(item.path):
            item.add_marker(pytest.mark.system)
            item.add_marker(pytest.mark.slow)
