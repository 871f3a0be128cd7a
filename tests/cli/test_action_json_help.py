"""Every action of `providers` and `provider` takes --json after its name as before it
(docs/oci.md: "All take `--json`"), and its --help says so, as `state`'s actions' do:
the completion scripts are made from the same parsers (cli/completion.py)."""

from __future__ import annotations

import pytest

from tests.workspace import dstream

ACTIONS = [
    ("providers", "pull"),
    ("providers", "push"),
    ("providers", "list"),
    ("providers", "inspect"),
    ("providers", "rm"),
    ("providers", "prune"),
    ("provider", "new"),
    ("provider", "test"),
    ("state", "show"),
]


@pytest.mark.parametrize(("command", "action"), ACTIONS, ids="-".join)
def test_an_actions_help_lists_json(command: str, action: str) -> None:
    done = dstream(command, action, "--help")
    assert done.returncode == 0, done.stderr
    assert "--json" in done.stdout and "print one JSON document" in done.stdout, done.stdout


def test_the_completion_script_offers_json_after_an_action() -> None:
    done = dstream("completion", "bash")
    assert done.returncode == 0, done.stderr
    line = next(
        line
        for line in done.stdout.splitlines()
        if line.startswith("_shtab_dstream_providers_list_option_strings=")
    )
    assert "--json" in line, line
