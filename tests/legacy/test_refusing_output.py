"""An output that refuses to start (`{"status":"error",...}` as its first line) a little
slowly, behind one of dstream's checkpointing inputs (regress R3).

Its first line is a refusal, not "no handshake": the run says only that. It was, on
some runs, also announced as an output that "does not acknowledge checkpoints" whose
task "cannot resume", with frames counted as forwarded to it; and one that answered
after the bridge's wait (OUTPUT_HANDSHAKE_WAIT) was remembered as an output without a
handshake, so that every later run warned so at once and streamed before its refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dstream.protocol.messages import Handshake
from dstream.runtime.description import known, remember
from dstream.runtime.legacy import OUTPUT_HANDSHAKE_WAIT
from tests.workspace import Workspace

REFUSAL = '{"status":"error","message":"config key path: bad"}'


def _refusing_output(ws: Workspace, delay: float) -> Path:
    """An output that reads its command line, waits `delay` s, then refuses."""
    return ws.script(
        "out.sh", f"#!/bin/sh\nread -r line\nsleep {delay}\necho '{REFUSAL}'\nexit 2\n"
    )


def _refused_run(ws: Workspace) -> tuple[dict[str, Any], str]:
    """Run task t, which must fail with the output's refusal and nothing else."""
    code, doc, err = ws.run_json("run", "t")
    assert code != 0, err
    task = doc["tasks"][0]
    assert task["error"]["error"] == "ProviderRefused", task
    assert "config key path: bad" in task["error"]["message"], task
    assert "does not acknowledge checkpoints" not in err, err
    # (Its `resumable` says nothing of that: the first run stores no checkpoint, so it
    # is false all the same, runner._judge_resumable; the warning above is the judgment.)
    return task, err


@pytest.mark.timeout(60)
def test_an_output_known_to_answer_gets_no_frame_before_its_refusal(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The describe cache says the output answers (a protocol-1 output, from an earlier
    run): the pump waits for its answer, so none of the input's envelopes is counted as
    forwarded to an output that then refuses."""
    out = _refusing_output(ws, 0.5)
    ws.counter_task("t", "./out.sh", count=10, checkpoint_every=2)
    monkeypatch.setenv("DSTREAM_CACHE_DIR", ws.env["DSTREAM_CACHE_DIR"])
    remember(str(out), Handshake("ready", frozenset({"checkpoints"}), protocol=1))
    assert known(str(out)) is not None
    task, _ = _refused_run(ws)
    assert task["counters"]["frames"] == 0, task
    assert task["counters"]["data_frames"] == 0, task


@pytest.mark.timeout(60)
def test_an_output_that_refuses_after_the_wait_is_not_remembered_as_handshake_less(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It refuses after OUTPUT_HANDSHAKE_WAIT: its refusal is its answer, so the describe
    cache does not remember it as an output that writes no handshake, and no run of it
    says that it does not acknowledge checkpoints."""
    out = _refusing_output(ws, OUTPUT_HANDSHAKE_WAIT + 0.5)
    ws.counter_task("t", "./out.sh", count=10, checkpoint_every=2)
    monkeypatch.setenv("DSTREAM_CACHE_DIR", ws.env["DSTREAM_CACHE_DIR"])
    _refused_run(ws)
    seen = known(str(out))
    assert seen is None or seen.answered is not False, seen


@pytest.mark.timeout(60)
def test_a_slow_refusal_is_reported_only_as_the_refusal_on_every_run(ws: Workspace) -> None:
    """regress R3's repro: the refusal comes 0.3 s after the command line, while the
    bridge waits for the output's first line; each run reports it alone, and before
    streaming."""
    _refusing_output(ws, 0.3)
    ws.counter_task("t", "./out.sh", count=10, checkpoint_every=2)
    for run in range(4):
        task, _ = _refused_run(ws)
        assert task["counters"]["frames"] == 0, (run, task)


@pytest.mark.timeout(60)
def test_a_refused_run_says_it_failed_before_streaming(ws: Workspace) -> None:
    """The input wrote envelopes in the same write as its handshake, so the pump had read
    some before the output refused: no frame reached the output, and the summary said
    "failed after 308 ms" with `frames 0` (the regress fixer's note)."""
    ws.script(
        "in.sh",
        "#!/bin/sh\n"
        """printf '{"status":"ready","protocol":1}\\n{"data":{"n":1},"metadata":{}}\\n'\n"""
        "sleep 5\n",
    )
    _refusing_output(ws, 0.3)
    ws.config(
        'task "t" {\n  input { provider_path = "./in.sh" }\n'
        '  output { provider_path = "./out.sh" }\n}\n'
    )
    done = ws.run("run", "t")
    assert done.returncode != 0, done.stderr
    assert "task t: failed before streaming" in done.stderr, done.stderr
    assert "frames" not in done.stderr, done.stderr


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "ready, words",
    [
        ('{"status":"ready","protocol":2}', "speaks protocol 2"),
        ('{"status":"ready","protocol":"one"}', "not a protocol number"),
    ],
)
def test_an_output_whose_ready_line_is_refused_gets_no_other_word(
    ws: Workspace, ready: str, words: str
) -> None:
    """Its ready line names a protocol this dstream does not speak (or no number): the
    refusal is the run's whole word on it, as an error status is (docs/protocol.md,
    section 5), not also a warning that it "does not acknowledge checkpoints (its stdout
    did not start with a handshake)". It answers after OUTPUT_HANDSHAKE_WAIT, so the
    pump withheld checkpoint frames from it meanwhile, every time (the same warning came
    after a prompt answer too, when the pump withheld one before the run stopped)."""
    ws.script("o2.sh", f"read -r line\nsleep {OUTPUT_HANDSHAKE_WAIT + 0.5}\necho '{ready}'\ncat\n")
    ws.counter_task("t", "./o2.sh", count=10, checkpoint_every=2)
    code, doc, err = ws.run_json("run", "t")
    assert code != 0, err
    task = doc["tasks"][0]
    assert task["error"]["error"] == "ProviderRefused", task
    assert words in task["error"]["message"], task
    assert "does not acknowledge checkpoints" not in err, err
