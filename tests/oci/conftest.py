"""The OCI tests: the registry and podman fixtures come from tests/conftest.py; here,
each test's own provider cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own provider cache and no ambient registry credentials."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(cache))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    for name in (
        "DSTREAM_REGISTRY_USERNAME",
        "DSTREAM_REGISTRY_PASSWORD",
        "DSTREAM_PROVIDER_MAX_AGE",
    ):
        monkeypatch.delenv(name, raising=False)
    return cache
