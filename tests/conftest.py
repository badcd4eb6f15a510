"""Fixtures shared by every test package: free ports and external programs."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable

import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def require_program(name: str) -> str:
    """Path of an external program; skip without it, except in CI where a missing one fails."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def unused_port() -> Callable[[], int]:
    return free_port
