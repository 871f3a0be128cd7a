"""A provider that does not answer its describe probe (docs/protocol.md, section 2)
within its 10 s: `dstream lint` says its config was not checked, at its block's
file:line:col, with the words `plan` gives the same fact (a warning, which `--strict`
fails on), and the describe cache remembers the silence until the executable changes,
so the next commands do not wait for it again. Real processes: a shell script that
notes each start and then sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import NO_COLOR, Workspace

SILENT = "echo started >> starts\nexec sleep 60\n"  # never writes its ready line

# What the same script answers once it is fixed: a schema without `intervall`.
ANSWERS = """\
echo started >> starts
echo '{"status":"ready","protocol":1,"config_schema":{"type":"object",\
"additionalProperties":false,"properties":{"interval":{"type":"integer"}}}}'
"""

NO_ANSWER = "it did not answer a describe probe within 10 s"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, env={**NO_COLOR, "DSTREAM_CACHE_DIR": str(tmp_path / "c")})
    workspace.script("silent.sh", SILENT)
    return workspace


def silent_input_task(ws: Workspace, extra: str = "") -> None:
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "./silent.sh"
            {extra}
            config {{ intervall = 5 }}
          }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )


def block(ws: Workspace) -> str:
    """dstream.hcl:LINE:COL of the input block."""
    lines = ws.read_text("dstream.hcl").splitlines()
    line = next(i for i, row in enumerate(lines, 1) if "input {" in row)
    return f"dstream.hcl:{line}:{lines[line - 1].index('input') + 1}"


def starts(ws: Workspace) -> int:
    return ws.read_text("starts").count("started")


@pytest.mark.timeout(120)
def test_lint_warns_of_a_config_no_probe_answer_let_it_check(ws: Workspace) -> None:
    silent_input_task(ws)
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr
    said = f"warning: {block(ws)}: input './silent.sh': its config was not checked: {NO_ANSWER}"
    assert said in done.stderr, done.stderr
    assert "DSTREAM_DESCRIBE=1" in done.stderr and "lifecycle = " in done.stderr  # the hint
    assert "0 error(s), 1 warning(s)" in done.stdout, done.stdout
    assert starts(ws) == 1

    done = ws.run("lint", "--strict")
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "lint failed: 0 error(s), 1 warning(s)" in done.stderr

    code, doc, err = ws.run_json("lint", "--strict")
    assert (code, doc["ok"], doc["warnings"]) == (2, False, 1), err
    [warning] = doc["diagnostics"]
    assert warning["severity"] == "warning" and warning["location"] == block(ws)
    assert warning["message"] == f"input './silent.sh': its config was not checked: {NO_ANSWER}"
    assert "DSTREAM_DESCRIBE=1" in warning["hint"]

    # plan gives the same fact in the same words, and nobody probed it again
    done = ws.run("plan", "t")
    assert done.returncode == 0, done.stderr
    assert f"not asked: it declares no lifecycle; {NO_ANSWER}" in done.stdout, done.stdout
    assert starts(ws) == 1, "the silence is remembered"


@pytest.mark.timeout(120)
def test_a_remembered_silence_is_probed_again_once_the_executable_changes(
    ws: Workspace,
) -> None:
    silent_input_task(ws)
    assert ws.run("lint").returncode == 0
    ws.script("silent.sh", ANSWERS)  # fixed: another size and mtime
    done = ws.run("lint")
    assert done.returncode == 2, done.stderr
    assert "unknown config key 'intervall' for input './silent.sh'" in done.stderr, done.stderr
    assert NO_ANSWER not in done.stderr
    assert starts(ws) == 2


@pytest.mark.parametrize("lifecycle", ["true", "false"])
def test_lifecycle_in_the_block_spares_the_probe_and_the_warning(
    ws: Workspace, lifecycle: str
) -> None:
    """What the warning's hint offers: the block says what the provider is, so it is
    not probed, and its config is left to it."""
    silent_input_task(ws, f"lifecycle = {lifecycle}")
    done = ws.run("lint", "--strict")
    assert done.returncode == 0, done.stderr
    assert "0 error(s), 0 warning(s)" in done.stdout
    assert starts(ws) == 0
