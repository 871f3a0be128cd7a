"""The destroy preview of a provider of the original's kind (it answers with its plan:
resources to create, nothing of what destroy removes) says so, and nothing it does not
know. Before, its summary counted the create plan's entries ("Plan done: 3 resource(s)
reported.", entries not shown), and destroy without a terminal pointed at "the plan
above" as what it would remove: no such list is there."""

from __future__ import annotations

import subprocess

from tests.legacy import OCI_COUNTER_DEMO
from tests.workspace import Workspace


def test_a_blind_destroy_preview_counts_no_resources(ws: Workspace) -> None:
    ws.config(OCI_COUNTER_DEMO)
    planned = ws.run("plan", "--destroy", "oci-counter-demo")
    assert "does not say what destroy would remove" in planned.stdout, planned.stdout
    assert "resource(s) reported" not in planned.stdout, planned.stdout
    assert "what destroy would remove is not known" in planned.stdout, planned.stdout


def test_destroy_without_a_terminal_points_at_no_list_it_did_not_show(ws: Workspace) -> None:
    ws.config(OCI_COUNTER_DEMO)
    done = ws.run("destroy", "oci-counter-demo", stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "there is no terminal to ask on" in done.stderr
    assert "the plan above is what it would remove" not in done.stderr, done.stderr
    assert "cannot preview" in done.stderr, done.stderr
    assert "--auto-approve" in done.stderr, done.stderr


def test_destroy_on_a_terminal_asks_of_no_resources_above(ws: Workspace) -> None:
    ws.config(OCI_COUNTER_DEMO)
    done = ws.on_a_terminal("destroy", "oci-counter-demo", answer=b"no")
    assert done.returncode == 1, done.screen
    assert "all of the resources above" not in done.screen, done.screen
    assert "Do you really want to destroy? destroy asks output " in done.screen, done.screen
    assert "Only 'yes' will be accepted" in done.screen, done.screen
