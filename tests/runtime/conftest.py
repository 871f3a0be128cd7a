"""End-to-end runs: a workspace with a dstream.hcl and small providers, the CLI run in it.
Its environment is left as it is: these tests check what dstream does on its own when
its output is piped (no colour, no progress)."""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping

import pytest


@pytest.fixture
def workspace_env() -> Mapping[str, str]:
    return {}


def metrics_address(proc: subprocess.Popen[bytes]) -> str:
    """The host:port a run started with --metrics-addr (or a metrics block) serves on,
    read from its stderr as far as the line that says so."""
    assert proc.stderr is not None
    while True:
        line = proc.stderr.readline().decode()
        assert line, "dstream exited before serving metrics"
        found = re.search(r"metrics on http://(\S+)/metrics", line)
        if found:
            return found.group(1)


def scrape(addr: str, path: str = "/metrics") -> tuple[int, str]:
    """The HTTP status and body of `path` on the metrics server at `addr`."""
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
