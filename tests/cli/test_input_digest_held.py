"""The digest of a task's input configuration, kept beside its checkpoint, is compared
before the run takes the task (a changed input is refused at once, exit 2) but written
only once the run holds it: a run refused because another run holds the task, or a
standby waiting for it, changes nothing of that run's, not even with --resume-changed,
and says nothing about resuming. A standby that takes over compares again: it finds the
checkpoints another input wrote while it waited, and refuses them. Both backends."""

from __future__ import annotations

import pytest

from dstream.errors import ExitCode
from tests.cli.standby_hosts import Elsewhere, Hosts
from tests.scale.cluster import WAITING, counter
from tests.services import wait_until
from tests.workspace import Workspace

pytestmark = pytest.mark.timeout(180)

RESUMING = "resuming from it anyway (--resume-changed)"


def _ran_then_changed(hosts: Hosts, elsewhere: Elsewhere) -> tuple[Workspace, str]:
    """Task t ran once (10 envelopes, its checkpoint and input digest stored), then its
    input's configuration changed: its workspace, and the stored digest."""
    ws = hosts.workspace("a", counter("t", max_count=10))
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    stored = elsewhere.store.input_hash("t")
    assert stored is not None
    hosts.configure(ws, counter("t", max_count=20))  # another input configuration
    return ws, stored


def test_a_run_refused_as_already_running_leaves_the_input_digest_alone(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws, stored = _ran_then_changed(hosts, elsewhere)
    assert elsewhere.hold("t")
    refused = ws.run("run", "t", "--resume-changed")
    assert refused.returncode == 1, refused.stderr
    assert "task 't' is already running" in refused.stderr
    assert elsewhere.store.input_hash("t") == stored  # the holder's input, still
    assert RESUMING not in refused.stderr  # it resumed nothing
    elsewhere.release("t")

    done = ws.run("run", "t", "--resume-changed")  # free now: it resumes, and says so
    assert done.returncode == 0, done.stderr
    assert RESUMING in done.stderr
    assert elsewhere.store.input_hash("t") not in (None, stored)


def test_a_standby_remembers_the_input_once_it_takes_over(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws, stored = _ran_then_changed(hosts, elsewhere)
    assert elsewhere.hold("t")
    standby = hosts.run(ws, "t", "--standby", "--resume-changed")
    wait_until("the standby to wait", lambda: standby.says(WAITING))
    assert elsewhere.store.input_hash("t") == stored
    assert RESUMING not in standby.stderr()
    elsewhere.release("t")
    assert standby.wait() == 0, standby.stderr()
    text = standby.stderr()
    assert text.index(WAITING) < text.index(RESUMING)
    assert elsewhere.store.input_hash("t") not in (None, stored)


def test_a_standby_finding_another_inputs_checkpoint_when_it_takes_over_refuses_it(
    hosts: Hosts, elsewhere: Elsewhere
) -> None:
    ws = hosts.workspace("a", counter("t", max_count=10))
    assert ws.run("run", "t").returncode == 0
    assert elsewhere.hold("t")
    standby = hosts.run(ws, "t", "--standby")  # its input is the stored one: no refusal
    wait_until("the standby to wait", lambda: standby.says(WAITING))
    # The holder runs another input meanwhile, and its checkpoints are that input's.
    elsewhere.store.set_input_hash("t", "blake2b:another-input")
    elsewhere.release("t")
    assert standby.wait() == ExitCode.USAGE, standby.stderr()
    text = standby.stderr()
    assert "the input's configuration changed since its checkpoint was stored" in text
    assert "Traceback" not in text
    assert len(ws.read_text("out_t.jsonl").splitlines()) == 10  # it started nothing
