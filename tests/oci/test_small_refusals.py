"""Small refusals that say the true reason: a file to push that is not there, a
DSTREAM_PROVIDER_MAX_AGE that is no number of seconds (nan, negative)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.hostile_registry import HostileRegistry, running
from tests.workspace import dstream


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


@pytest.mark.parametrize("suffix", ["", ":linux/amd64"])
def test_pushing_a_file_that_is_not_there_says_so(
    hostile: HostileRegistry, tmp_path: Path, suffix: str
) -> None:
    missing = tmp_path / "nofile"
    done = dstream("providers", "push", f"{missing}{suffix}", "--ref", f"{hostile.host}/a/p:1")
    assert done.returncode == 2, done.stderr
    assert f"{missing}: no such file" in done.stderr, done.stderr
    assert "cannot tell the platform" not in done.stderr and hostile.paths() == []


@pytest.mark.parametrize("value", ["abc", "nan", "-1", "-inf", "NaN"])
def test_a_max_age_that_is_no_number_of_seconds_is_refused(
    hostile: HostileRegistry, value: str
) -> None:
    done = dstream(
        "providers", "pull", f"{hostile.host}/a/p:1", env={"DSTREAM_PROVIDER_MAX_AGE": value}
    )
    assert done.returncode != 0, done.stderr
    assert f"DSTREAM_PROVIDER_MAX_AGE={value!r}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
