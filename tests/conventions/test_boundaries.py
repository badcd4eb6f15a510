"""The agent<->backend contract lives in `conventions/`: the backend and the launcher import none
of the agent's code, and nothing of the OTel SDK the `backend` extra no longer installs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# Run in a fresh interpreter whose importer refuses the agent and the OTel SDK and exporters.
_IMPORT_ALL_BLOCKING = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    FORBIDDEN = ("exporter", "opentelemetry.sdk", "opentelemetry.exporter")

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                raise ImportError(f"{name} is not the backend's to import")
            return None

    sys.meta_path.insert(0, Refuse())
    package = importlib.import_module(sys.argv[1])
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
    print("ok")
    """
)


@pytest.mark.parametrize("package", ["backend", "conventions", "launcher"])
def test_the_package_imports_without_the_agent_or_the_otel_sdk(package: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL_BLOCKING, package],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
