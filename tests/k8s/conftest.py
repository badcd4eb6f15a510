"""The rendered overlays, once per test session (rendering takes ~0.2 s each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.k8s.rendering import OVERLAYS, Manifest, documents, prepare_tree, render


@pytest.fixture(scope="session")
def k8s_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepare_tree(tmp_path_factory.mktemp("k8s"))


@pytest.fixture(scope="session")
def rendered_text(k8s_tree: Path) -> dict[str, str]:
    return {overlay: render(k8s_tree, overlay) for overlay in OVERLAYS}


@pytest.fixture(scope="session")
def rendered(rendered_text: dict[str, str]) -> dict[str, list[Manifest]]:
    return {overlay: documents(text) for overlay, text in rendered_text.items()}
