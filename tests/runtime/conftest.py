"""End-to-end runs: a workspace with a dstream.hcl and small providers, the CLI run in it.
Its environment is left as it is: these tests check what dstream does on its own when
its output is piped (no colour, no progress)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest


@pytest.fixture
def workspace_env() -> Mapping[str, str]:
    return {}
