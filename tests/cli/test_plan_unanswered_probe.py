"""`dstream plan` says that a provider's config went unchecked because its describe
probe did not answer, as `dstream lint` warns of it (the same words and hint), for an
input and an output alike, and once per provider however many tasks name it. Real
processes: shell scripts that never answer the probe (tests/cli/test_lint_unanswered_probe.py's
provider); this one answers a command as a provider of the original DStream that
manages nothing does (it exits 0), so the plan itself succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_lint_unanswered_probe import NO_ANSWER, SILENT
from tests.workspace import NO_COLOR, Workspace, log_records

# Silent to the probe only: a command it answers by exiting 0 without a result.
SILENT_TO_THE_PROBE = f'[ -n "$DSTREAM_DESCRIBE" ] || exit 0\n{SILENT}'


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "c")})
    workspace.script("silent.sh", SILENT_TO_THE_PROBE)
    return workspace


def tasks(ws: Workspace, *roles_silent: tuple[str, str]) -> None:
    """A task per (name, role): that role's provider is ./silent.sh, the other built in."""
    blocks = []
    for name, role in roles_silent:
        inp = "./silent.sh" if role == "input" else "dstream-counter"
        out = "./silent.sh" if role == "output" else "dstream-null"
        blocks.append(
            f"""
            task "{name}" {{
              input {{
                provider_path = "{inp}"
                config {{ interval = 5 }}
              }}
              output {{
                provider_path = "{out}"
              }}
            }}
            """
        )
    ws.config("\n".join(blocks))


def unchecked(role: str) -> str:
    return f"{role} './silent.sh': its config was not checked: {NO_ANSWER}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("role", ["input", "output"])
def test_plan_says_a_config_went_unchecked_as_lint_does(ws: Workspace, role: str) -> None:
    tasks(ws, ("t", role))
    done = ws.run("plan", "t")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(unchecked(role)) == 1, done.stderr
    assert "DSTREAM_DESCRIBE=1" in done.stderr  # lint's hint
    linted = ws.run("lint")
    assert unchecked(role) in linted.stderr, linted.stderr


@pytest.mark.timeout(120)
def test_plan_of_several_tasks_says_it_once_per_provider(ws: Workspace) -> None:
    tasks(ws, ("a", "input"), ("b", "output"), ("c", "output"), ("d", "input"))
    done = ws.run("--log-format", "json", "plan", "a", "b", "c", "d")
    assert done.returncode == 0, done.stderr
    warned = [r for r in log_records(done.stderr) if "was not checked" in r["msg"]]
    assert [r["level"] for r in warned] == ["warning", "warning"], done.stderr
    # each names every task planned that uses the provider, none of them left out
    assert sorted(r["msg"].rsplit("(tasks ", 1)[-1] for r in warned) == ["a, d)", "b, c)"], warned
    assert sum(unchecked("input") in r["msg"] for r in warned) == 1, warned
    assert sum(unchecked("output") in r["msg"] for r in warned) == 1, warned
