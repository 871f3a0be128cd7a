from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from dstream.config.model import StateSpec
from tests.cli.standby_hosts import Elsewhere, Hosts, elsewhere_on, hosts_on, state_spec
from tests.workspace import NO_COLOR


@pytest.fixture
def workspace_env(tmp_path: Path) -> Mapping[str, str]:
    """The default state directory ($XDG_STATE_HOME) is inside the test's directory."""
    return {**NO_COLOR, "XDG_STATE_HOME": str(tmp_path / "xdg-state")}


# Runs that hold tasks, on both state backends (tests/cli/standby_hosts.py): the state,
# dstream runs on it, and another run's hold of it.
@pytest.fixture(params=["file", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> StateSpec:
    return state_spec(request, tmp_path)


@pytest.fixture
def hosts(spec: StateSpec, tmp_path: Path) -> Iterator[Hosts]:
    with hosts_on(spec, tmp_path) as made:
        yield made


@pytest.fixture
def elsewhere(spec: StateSpec, tmp_path: Path) -> Iterator[Elsewhere]:
    with elsewhere_on(spec, tmp_path) as other:
        yield other
