"""The image tests' fixtures live in tests/images/fixtures.py (registered in tests/conftest.py so
tests/k8s shares the same once-per-session images); `require_image_tools` is re-exported here."""

from __future__ import annotations

from tests.images.fixtures import require_image_tools

__all__ = ["require_image_tools"]
