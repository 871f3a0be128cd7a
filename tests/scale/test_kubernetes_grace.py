"""The pods' terminationGracePeriodSeconds covers the longest a stopped dstream takes,
also on a state database that stopped answering: its longest stop_grace and STOP_MARGIN,
then its last calls' bound, which grows with lease_ttl (docs/scaling.md). Shorter, the
kubelet would SIGKILL a pod still storing its last checkpoint."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from dstream.deploy.kubernetes import GRACE_SLACK
from dstream.protocol.frames import DEFAULT_STOP_GRACE
from dstream.runtime.stopping import STOP_MARGIN
from dstream.state.lease import LeaseSettings
from tests.scale.test_kubernetes_variables import deploy, manifests
from tests.scaling_page import stated
from tests.workspace import Workspace

CONFIG = """
state {{
  backend = "postgres"
  dsn = "postgresql://dstream@db.internal/streams"
  {ttl}
}}
task "a" {{
  stop_grace = "{grace}"
  input  {{ provider_path = "dstream-counter" }}
  output {{ provider_path = "dstream-null" }}
}}
task "b" {{
  input  {{ provider_path = "dstream-counter" }}
  output {{ provider_path = "dstream-null" }}
}}
"""

# Nothing set but what a deploy needs: every figure the page states "with the defaults".
DEFAULTS = """
state {
  backend = "postgres"
  dsn = "postgresql://dstream@db.internal/streams"
}
task "a" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""


def grace_periods(items: list[dict[str, Any]]) -> set[int]:
    return {
        item["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        for item in items
        if item["kind"] in ("Deployment", "StatefulSet")
    }


@pytest.mark.parametrize("shape", [[], ["--agents", "2"]], ids=["tasks", "agents"])
@pytest.mark.parametrize(
    ("ttl", "grace"),
    [(None, 10.0), (6.0, 20.0), (60.0, 5.0)],
    ids=["defaults", "short-ttl", "long-ttl"],
)
def test_the_grace_period_covers_a_stop_on_a_silent_database(
    tmp_path: Path, shape: list[str], ttl: float, grace: float
) -> None:
    ws = Workspace(tmp_path)
    setting = "" if ttl is None else f'lease_ttl = "{ttl:g}s"'
    ws.config(CONFIG.format(ttl=setting, grace=f"{grace:g}s"))
    settings = LeaseSettings() if ttl is None else LeaseSettings(ttl=ttl)
    longest_stop = grace + STOP_MARGIN + settings.silent_stop
    periods = grace_periods(manifests(deploy(ws, "--json", *shape)))
    assert len(periods) == 1, periods  # the longest task's, for every pod
    assert periods.pop() >= math.ceil(longest_stop)


def test_the_page_states_the_stop_and_the_grace_period_of_the_defaults(
    tmp_path: Path,
) -> None:
    """docs/scaling.md, "Stopping on a silent database": a stopped process ends within
    stop_grace + 3 s + the last calls' bound (10 + 3 + 22 = 35 s), and the pods are
    given that, rounded up, + 2 s (37 s), with the defaults. Those are the figures an
    operator sizes a deployment by: they are the code's, and the manifest's."""
    margin, grace, also, bound, stop = stated(
        r"`stop_grace` \+ (\d+) s \+ that bound \((\d+) \+ (\d+) \+ (\d+) = (\d+) s "
        r"with the defaults\)"
    )
    slack, period = stated(r"rounded up, \+ (\d+) s for a loaded node \((\d+) s with the defaults")
    silent = LeaseSettings().silent_stop
    assert (margin, grace, also, bound) == (STOP_MARGIN, DEFAULT_STOP_GRACE, STOP_MARGIN, silent)
    assert stop == DEFAULT_STOP_GRACE + STOP_MARGIN + silent
    assert slack == GRACE_SLACK
    ws = Workspace(tmp_path)
    ws.config(DEFAULTS)
    for shape in ([], ["--agents", "2"]):
        assert grace_periods(manifests(deploy(ws, "--json", *shape))) == {period}
        assert period == math.ceil(stop) + slack
