"""`dstream deploy kubernetes` says what the pods will lack: a path they would write
into the read-only ConfigMap mount (where they resolve relative paths), and the
environment variables the configuration reads (the pods get none of deploy's, but
those dstream sets in them)."""

from __future__ import annotations

from pathlib import Path

from tests.scale.test_kubernetes_checks import STATE, TASK
from tests.scale.test_kubernetes_variables import deploy
from tests.workspace import Workspace


def writing_task(name: str, dead: str, out: str) -> str:
    return (
        f'task "{name}" {{\n  invalid_frames = "dead_letter"\n  dead_letter_path = "{dead}"\n'
        '  input  { provider_path = "dstream-counter" }\n'
        '  output {\n    provider_path = "dstream-file"\n'
        f'    config {{ path = "{out}" }}\n  }}\n}}\n'
    )


def test_relative_paths_the_pods_would_write_into_the_config_map_are_named(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    ws.config(
        STATE.format(dsn="postgresql://app@db/s")
        + writing_task("a", "dead/a.jsonl", "out/a.jsonl")
        + writing_task("b", "/data/dead.jsonl", "/data/{TableName}.jsonl")
    )
    done = deploy(ws)
    assert done.returncode == 0, done.stderr
    notes = done.stderr
    assert "'dead/a.jsonl'" in notes and 'task "a" dead_letter_path' in notes, notes
    assert "'out/a.jsonl'" in notes and 'task "a" output config.path' in notes, notes
    assert "read-only" in notes and "absolute path on a volume" in notes, notes
    assert "/data/" not in notes and 'task "b"' not in notes, notes
    ws.config(STATE.format(dsn="postgresql://app@db/s") + TASK.format(name="t"))
    assert "read-only" not in deploy(ws).stderr


def env_task(var: str) -> str:
    return (
        STATE.format(dsn="postgresql://app@db/s")
        + 'task "t" {\n  input  {\n    provider_path = "dstream-counter"\n'
        f'    env = {{ REGION = env("{var}") }}\n  }}\n'
        '  output { provider_path = "dstream-null" }\n}\n'
    )


def test_an_env_variable_named_dstream_is_named_unless_the_pods_have_it(
    tmp_path: Path,
) -> None:
    ws = Workspace(tmp_path)
    ws.config(env_task("DSTREAM_REGION"))
    done = deploy(ws, env={"DSTREAM_REGION": "eu"})
    assert done.returncode == 0, done.stderr
    assert "reads DSTREAM_REGION from the environment" in done.stderr, done.stderr
    ws.config(env_task("DSTREAM_CONFIG"))  # the pods have it: dstream sets it
    done = deploy(ws, env={"DSTREAM_CONFIG": "dstream.hcl"})
    assert done.returncode == 0, done.stderr
    assert "from the environment" not in done.stderr, done.stderr
