"""Pure parts of tests/images/podman.py: which old test images are removed, and which Debian
mirror the base image is made from."""

from __future__ import annotations

from pathlib import Path

from tests.images.podman import TEST_IMAGE_MAX_IDLE_SECONDS, debian_mirror, stale_test_tags

NOW = 1_800_000_000.0
OLD = NOW - TEST_IMAGE_MAX_IDLE_SECONDS - 60
RECENT = NOW - 60


def test_only_idle_test_tags_of_hostpulse_images_are_stale() -> None:
    images: list[dict[str, object]] = [
        {"Created": OLD, "RepoTags": ["localhost/hostpulse-backend:test-aaa"]},
        {"Created": OLD, "RepoTags": ["localhost/hostpulse-backend:test-bbb"]},  # used lately
        {"Created": OLD, "RepoTags": ["localhost/hostpulse-backend:test-ccc"]},  # this session's
        {"Created": RECENT, "RepoTags": ["localhost/hostpulse-exporter:test-ddd"]},
        {"Created": OLD, "RepoTags": ["localhost/hostpulse-exporter:0.1.0"]},  # a user's build
        {"Created": OLD, "RepoTags": ["localhost/hostpulse-base:45e68ff9536c"]},
        {"Created": OLD, "RepoTags": ["docker.io/library/python:test-x"]},
        {"Created": OLD, "RepoTags": None},  # a dangling build stage: podman image prune's job
    ]
    used = {"localhost/hostpulse-backend:test-bbb": RECENT}
    stale = stale_test_tags(
        images, used.get, keep={"localhost/hostpulse-backend:test-ccc"}, now=NOW
    )
    assert stale == ["localhost/hostpulse-backend:test-aaa"]


def test_the_mirror_is_the_one_apt_uses(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n"
    )
    assert debian_mirror(tmp_path) == "http://mirror.example/debian"
    (sources / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text(
        "deb [signed-by=/x.gpg] http://one.example/debian bookworm main\n"
    )
    assert debian_mirror(tmp_path) == "http://one.example/debian"
