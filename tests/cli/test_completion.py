"""`dstream completion bash|zsh|fish` is generated from the commands' own parsers, and
global flags work before the command as after it (issue 18, point 9)."""

from __future__ import annotations

import shutil
import subprocess

import orjson
import pytest

from tests.cli import scenarios
from tests.cli.zshcomplete import zsh_complete
from tests.workspace import Workspace


def _bash_complete(ws: Workspace, *words: str) -> list[str]:
    """What bash offers after `words` (the last one is being typed), with the script
    dstream printed loaded into a real bash."""
    script = ws.run("completion", "bash")
    assert script.returncode == 0, script.stderr
    (ws.root / "dstream.bash").write_text(script.stdout)
    line = " ".join(f"'{w}'" for w in ("dstream", *words))
    probe = (
        "source ./dstream.bash; "
        f"COMP_WORDS=({line}); COMP_CWORD={len(words)}; _shtab_dstream; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], cwd=ws.root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_flags_and_choices(ws: Workspace) -> None:
    assert _bash_complete(ws, "pl") == ["plan"]
    assert _bash_complete(ws, "run", "--reset") == ["--reset-state"]
    assert _bash_complete(ws, "plan", "--detailed") == ["--detailed-exitcode"]
    assert _bash_complete(ws, "completion", "") == ["bash", "zsh", "fish"]


def test_zsh_script_is_valid(ws: Workspace) -> None:
    script = ws.run("completion", "zsh")
    assert script.returncode == 0 and "#compdef dstream" in script.stdout
    if shutil.which("zsh"):  # zsh is not installed on every machine here
        done = subprocess.run(["zsh", "-n"], input=script.stdout, text=True, check=False)
        assert done.returncode == 0


def test_zsh_takes_a_global_flag_with_its_value_after_an_equals_sign(ws: Workspace) -> None:
    """`dstream --config=x pl<TAB>`: each flag that takes a value is declared to zsh as
    taking it after `=` too (`--config=`, `-c=`), as argparse does, or zsh took
    `--config=x` for the command and completed nothing after it. Checked in a real zsh
    where one is installed (not on CI's machine: there the declarations are checked)."""
    script = ws.run("completion", "zsh").stdout
    top = script.split("_shtab_dstream_options=(\n", 1)[1].split("\n)", 1)[0]
    assert "{-c=,--config=}" in top and "{-l=,--log-level=}" in top, top
    assert "{-t,--log-time}" in top and "{--json,-json}" in top, top  # no value
    assert '"--cache-dir=[' in script  # an action's own flag, of one name
    if not shutil.which("zsh"):
        return
    assert zsh_complete(ws.root, script, "dstream --config=x pl") == ["plan"]
    assert zsh_complete(ws.root, script, "dstream -c=x pl") == ["plan"]
    assert zsh_complete(ws.root, script, "dstream --log-level=debug -c x state l") == ["list"]
    assert zsh_complete(ws.root, script, "dstream --log-format=") == ["text", "json"]
    assert zsh_complete(ws.root, script, "dstream run --log-level=debug --reset") == [
        "--reset-state"
    ]


def test_zsh_completes_after_global_flags_written_alone(ws: Workspace) -> None:
    """`dstream -c x <TAB>`: the commands, their actions and flags after the global
    flags, in a real zsh (skipped where none is installed)."""
    if not shutil.which("zsh"):
        pytest.skip("no zsh installed")
    script = ws.run("completion", "zsh").stdout
    assert zsh_complete(ws.root, script, "dstream pl") == ["plan"]
    assert "plan" in zsh_complete(ws.root, script, "dstream -c x ")
    assert zsh_complete(ws.root, script, "dstream -l debug --json -t state l") == ["list"]
    assert zsh_complete(ws.root, script, "dstream -c x run --reset") == ["--reset-state"]
    assert zsh_complete(ws.root, script, "dstream -f json completion ") == ["bash", "zsh", "fish"]


def test_fish_lists_every_command_and_flag(ws: Workspace) -> None:
    from dstream.cli.app import COMMANDS

    script = ws.run("completion", "fish").stdout
    for name, (_, help_) in COMMANDS.items():  # each with its one-line help, fish-quoted
        quoted = help_.replace("\\", "\\\\").replace("'", "\\'")
        assert f"-n __dstream_is -a {name} -d '{quoted}'\n" in script, name
    assert "-n '__dstream_is destroy' -l drop-state" in script
    assert "-n '__dstream_is plan' -o detailed-exitcode" in script
    assert "-n '__dstream_is run' -s l -r" in script


def test_fish_completes_each_flag_where_it_is_taken(ws: Workspace) -> None:
    """By the command path typed (`__dstream_is`, flags and their values skipped): an
    action's flags after it (fish's __fish_seen_subcommand_from took `providers list`
    for `list`, offering flags `providers list` refuses), the global flags and --version
    before any command, and `help`'s commands. Checked by hand in fish 3.6 (not
    installed here): `complete -C 'dstream providers list --'` offers --cache-dir and no
    --config; `dstream -c x li` offers lint and list."""
    script = ws.run("completion", "fish").stdout
    assert "set -g __dstream_actions_providers pull push list inspect rm prune\n" in script
    assert "-n '__dstream_is state set' -l force" in script
    assert "-n '__dstream_is providers pull' -l refresh" in script
    assert "-n '__dstream_is providers list' -l config" not in script
    assert "-n '__dstream_is list' -l config" in script
    for flag in ("-l config", "-l log-level", "-l log-format", "-l json", "-l version"):
        assert f"-n '__dstream_is' {flag}" in script, flag
    assert "-n __dstream_is -a help " in script
    assert "-n '__dstream_is help' -a 'run init plan" in script


def test_bash_offers_the_global_flags_and_help(ws: Workspace) -> None:
    script = ws.run("completion", "bash").stdout
    top = next(
        line for line in script.splitlines() if line.startswith("_shtab_dstream_option_strings=")
    )
    for flag in ("--config", "--log-level", "--log-format", "--log-time", "--json", "--version"):
        assert flag in top, (flag, top)
    assert _bash_complete(ws, "h") == ["help"]


def test_an_unknown_shell_is_a_usage_error(ws: Workspace) -> None:
    done = ws.run("completion", "powershell")
    assert done.returncode == 2
    assert "invalid choice: 'powershell'" in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-l", "warning", "-c", "other.hcl", "--json", "list"],
        ["--log-level=warning", "--config=other.hcl", "list", "--json"],
        ["list", "-l", "warning", "-c", "other.hcl", "--json"],
        ["-c", "other.hcl", "-l", "warning", "--json", "state", "list"],  # a sub-command
    ],
)
def test_global_flags_before_or_after_the_command(ws: Workspace, argv: list[str]) -> None:
    scenarios.counter_file(ws)
    (ws.root / "dstream.hcl").rename(ws.root / "other.hcl")
    done = ws.run(*argv)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout_bytes)
    if "state" in argv:  # the state block of other.hcl, not a default store
        assert doc["store"] == f"file {ws.root / 'state'}"
    else:
        assert doc["tasks"][0]["name"] == "t"
