"""Where state lives (issue 18, point 8): by default `$XDG_STATE_HOME/dstream/<project>`,
never beside the configuration, so a read-only configuration directory works; overridable
by --state-dir, then $DSTREAM_STATE_DIR, then the state block; an existing
`.dstream/state` beside the configuration is still used (and said so once); `status`
says where it is."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from dstream.state import project_state_name, xdg_state_dir
from tests.workspace import Workspace

NOBODY = 65534

CONFIG = """
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      max_count = 10
      interval = 0  # the default's 1 s a number made each run 10 s long
      checkpoint_every = 5
    }
  }
  output {
    provider_path = "dstream-file"
    config { path = "%s" }
  }
}
"""


def test_a_read_only_configuration_directory_as_a_non_root_user(tmp_path: Path) -> None:
    """The configuration directory is read-only (mode 555, owned by root) and dstream runs
    as uid 65534 (nobody). The venv and this interpreter live under /root (mode 700), so
    the process keeps CAP_DAC_READ_SEARCH: it may read and traverse anything, but it can
    write only where nobody may write."""
    config_dir = tmp_path / "etc-dstream"
    config_dir.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    (config_dir / "dstream.hcl").write_text(CONFIG % (home / "out.jsonl"))
    config_dir.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH
                     | stat.S_IXOTH)  # fmt: skip
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux setpriv is needed"
    as_nobody = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                 "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]  # fmt: skip
    env = {**os.environ, "HOME": str(home), "NO_COLOR": "1"}
    env.pop("XDG_STATE_HOME", None)
    ws = Workspace(config_dir)
    probe = subprocess.run([*as_nobody, "touch", str(config_dir / "x")], capture_output=True)
    assert probe.returncode != 0, "the configuration directory is writable: no test"

    done = subprocess.run(as_nobody + ws.command("run", "t"), cwd=config_dir, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    state = home / ".local" / "state" / "dstream"
    (checkpoint,) = state.glob("etc-dstream-*/t.json")
    assert checkpoint.stat().st_uid == NOBODY
    status = subprocess.run(as_nobody + ws.command("status", "t"), cwd=config_dir, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert f"state: file {checkpoint.parent}" in status.stdout, status.stdout
    assert 'checkpoint: {"seq":10}' in status.stdout


def _write_config(ws: Workspace) -> None:
    ws.config(CONFIG % "out.jsonl")


def test_state_dir_flag_then_env_then_the_default(ws: Workspace) -> None:
    _write_config(ws)
    assert ws.run("run", "t", "--state-dir", "by-flag",
                  env={"DSTREAM_STATE_DIR": str(ws.root / "by-env")}).returncode == 0  # fmt: skip
    assert (ws.root / "by-flag" / "t.json").is_file()
    assert not (ws.root / "by-env").exists()
    assert ws.run("run", "t", env={"DSTREAM_STATE_DIR": str(ws.root / "by-env")}).returncode == 0
    assert (ws.root / "by-env" / "t.json").is_file()
    assert ws.run("run", "t").returncode == 0
    default = Path(xdg_state_dir(str(ws.root), {"XDG_STATE_HOME": ws.env["XDG_STATE_HOME"]}))
    assert (default / "t.json").is_file()
    assert not (ws.root / ".dstream").exists()


def test_an_existing_state_directory_beside_the_configuration_is_kept(ws: Workspace) -> None:
    _write_config(ws)
    legacy = ws.root / ".dstream" / "state"
    legacy.mkdir(parents=True)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert (legacy / "t.json").is_file()
    assert done.stderr.count(f"state: using the existing {legacy} beside the configuration") == 1
    status = ws.run("status", "t")
    assert f"state: file {legacy}" in status.stdout


def test_a_path_through_a_symlink_shares_the_state_and_the_run_lock(ws: Workspace) -> None:
    """The default state is named after the configuration's real directory: reached
    through a symlink it is the same project, with one checkpoint and one run lock (the
    same task ran twice at once, each from its own checkpoint, into one file)."""
    _write_config(ws)
    link = ws.root.parent / f"{ws.root.name}-link"
    link.symlink_to(ws.root, target_is_directory=True)
    assert ws.run("-c", str(ws.root), "run", "t").returncode == 0
    via_link = ws.run("-c", str(link), "state", "show", "t")
    assert via_link.returncode == 0, via_link.stderr
    assert via_link.stdout == ws.run("-c", str(ws.root), "state", "show", "t").stdout
    assert '"seq":10' in via_link.stdout.replace(" ", ""), via_link.stdout
    projects = list((Path(ws.env["XDG_STATE_HOME"]) / "dstream").iterdir())
    assert len(projects) == 1, projects


def test_a_state_named_after_a_symlinked_path_is_moved_to_the_real_ones(ws: Workspace) -> None:
    """Before, the state was named after the path as given: a project always run through
    a symlink has its checkpoints there. The first run after the change moves them, says
    so, and resumes from them (it would have started over, sending everything again)."""
    _write_config(ws)
    link = ws.root.parent / f"{ws.root.name}-link"
    link.symlink_to(ws.root, target_is_directory=True)
    home = Path(ws.env["XDG_STATE_HOME"]) / "dstream"
    old = home / project_state_name(str(link))
    made = ws.run("state", "set", "t", '{"seq":7}', "--state-dir", str(old))
    assert made.returncode == 0, made.stderr
    done = ws.run("-c", str(link), "state", "show", "t")
    assert done.returncode == 0, done.stderr
    assert '"seq":7' in done.stdout.replace(" ", ""), done.stdout
    new = Path(xdg_state_dir(str(ws.root), {"XDG_STATE_HOME": ws.env["XDG_STATE_HOME"]}))
    assert not old.exists() and (new / "t.json").is_file()
    assert f"state: moved {old} to {new}" in done.stderr
