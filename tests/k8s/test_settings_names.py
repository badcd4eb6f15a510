"""Every setting the manifests give the backend and the agent is one they read: each `HOSTPULSE_*`
variable (and DATABASE_URL, REDIS_URL) of the rendered containers' environment changes the
component's effective settings (or, when it repeats a default, a garbled value is refused), so a
misspelt name, which both would silently ignore, fails here.

The environment is resolved by tests/k8s/pod_runner.py from the rendered ConfigMaps and the test's
random Secrets; the settings are loaded with each component's own loader (no container needed)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s import pod_runner
from tests.k8s.rendering import OVERLAYS, Manifest

READ_BY_SETTINGS = ("DATABASE_URL", "REDIS_URL")
# Read by something else than the settings loader, each with who reads it.
READ_ELSEWHERE = {
    "PGPASSWORD": "asyncpg (libpq's variable), for the password DATABASE_URL leaves out",
}


@pytest.fixture
def clean_environment() -> Iterator[None]:
    """No HOSTPULSE_* (or DATABASE_URL/REDIS_URL) of the test run's own leaks into a load."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("HOSTPULSE_") or key in READ_BY_SETTINGS:
            del os.environ[key]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _effective(load: Callable[[], Any], env: dict[str, str]) -> Any:
    for key in list(os.environ):
        if key.startswith("HOSTPULSE_") or key in READ_BY_SETTINGS:
            del os.environ[key]
    os.environ.update(env)
    try:
        return load().model_dump()
    except Exception as exc:  # a missing required setting counts as read
        return f"error: {exc}"


def _assert_every_name_is_read(load: Callable[[], Any], env: dict[str, str]) -> None:
    settings_env = {
        k: v for k, v in env.items() if k.startswith("HOSTPULSE_") or k in READ_BY_SETTINGS
    }
    assert set(env) - set(settings_env) <= set(READ_ELSEWHERE), set(env) - set(settings_env)
    full = _effective(load, settings_env)
    assert not isinstance(full, str), full
    unread = []
    for key in settings_env:
        without = _effective(load, {k: v for k, v in settings_env.items() if k != key})
        if without != full:
            continue  # removing it changes something: read
        # Its value is the default: read if a value no setting accepts is refused.
        garbled = _effective(load, {**settings_env, key: "?? not a valid value ??"})
        if not (isinstance(garbled, str) and garbled.startswith("error:")):
            unread.append(key)
    assert not unread, f"set in the manifests but read by nothing: {unread}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_backend_reads_every_setting_it_is_given(
    rendered: dict[str, list[Manifest]], overlay: str, clean_environment: None
) -> None:
    from backend.settings import load_settings

    plan = pod_runner.plan_pod(rendered[overlay], "Deployment", "backend")
    for container in ("migrate", "backend"):
        _assert_every_name_is_read(load_settings, plan.container(container).env)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_agent_reads_every_setting_it_is_given(
    rendered: dict[str, list[Manifest]], overlay: str, clean_environment: None, tmp_path: Path
) -> None:
    from exporter.config import load_config

    plan = pod_runner.plan_pod(rendered[overlay], "DaemonSet", "hostpulse-agent")
    env = dict(plan.container("agent").env)
    # The loader opens the token file: the Secret's file, at a path of this machine.
    mounted = env["HOSTPULSE_JSON_PUSH__TOKEN_FILE"]
    (token_mount,) = [
        m for m in plan.container("agent").mounts if mounted.startswith(m.target + "/")
    ]
    assert token_mount.files is not None
    token = tmp_path / "token"
    token.write_bytes(token_mount.files[mounted.removeprefix(token_mount.target + "/")])
    env["HOSTPULSE_JSON_PUSH__TOKEN_FILE"] = str(token)
    _assert_every_name_is_read(load_config, env)


def test_a_misspelt_name_is_caught(
    rendered: dict[str, list[Manifest]], clean_environment: None
) -> None:
    from backend.settings import load_settings

    env = dict(
        pod_runner.plan_pod(rendered["minikube"], "Deployment", "backend").container("backend").env
    )
    env["HOSTPULSE_SHUTDOWN_TIMOUT"] = env.pop("HOSTPULSE_SHUTDOWN_TIMEOUT")
    with pytest.raises(AssertionError, match="HOSTPULSE_SHUTDOWN_TIMOUT"):
        _assert_every_name_is_read(load_settings, env)
