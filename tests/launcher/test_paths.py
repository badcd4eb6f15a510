from __future__ import annotations

from pathlib import Path

from launcher.paths import StackPaths, default_data_dir, socket_path


def test_data_dir_follows_xdg_data_home() -> None:
    assert default_data_dir({"XDG_DATA_HOME": "/data"}, Path("/home/u")) == Path("/data/hostpulse")


def test_data_dir_defaults_to_local_share_and_ignores_a_relative_xdg_value() -> None:
    expected = Path("/home/u/.local/share/hostpulse")
    assert default_data_dir({}, Path("/home/u")) == expected
    assert default_data_dir({"XDG_DATA_HOME": ""}, Path("/home/u")) == expected
    assert default_data_dir({"XDG_DATA_HOME": "rel/dir"}, Path("/home/u")) == expected


def test_everything_lives_under_the_data_dir() -> None:
    paths = StackPaths(Path("/d"))
    for path in (paths.lock_file, paths.children_file, paths.token_file, paths.pgdata):
        assert path.parent == Path("/d")
    assert paths.redis_socket == Path("/d/redis/redis.sock")


def test_a_socket_path_too_long_for_unix_sockets_moves_to_a_short_stable_place() -> None:
    deep = Path("/" + "x" * 120) / "redis.sock"
    moved = socket_path(deep, Path("/tmp"))
    assert len(str(moved)) < 100
    assert moved.name == "redis.sock"
    assert moved == socket_path(deep, Path("/tmp"))  # the next run finds the same socket
    assert moved != socket_path(Path("/" + "y" * 120) / "redis.sock", Path("/tmp"))
