"""An output that writes no handshake (the original .NET SDK 0.1.1 on NuGet, a
hand-written Go output) behind one of dstream's checkpointing inputs.

It takes every stdin line for a message, so a checkpoint frame is a junk message to
it (`Message #3: null`). It was given them: the contract said an output that writes no
handshake is unknown until it writes and gets checkpoints "as before", and dstream
waited 5 s for its first line on every run when it wrote nothing at all."""

from __future__ import annotations

import pytest

from dstream.runtime.legacy import OUTPUT_HANDSHAKE_WAIT
from tests.legacy import zoo
from tests.workspace import Workspace

# SDK 0.1.1's RunOutputProviderAsync of a console sink: no handshake, prints every
# message it reads (a checkpoint frame has no "data": `Message #N: null`).
PRINTING_OUTPUT = r"""
import json, sys
sys.stdin.buffer.readline()
n = 0
for line in sys.stdin.buffer:
    n += 1
    print(f"Message #{n}: {json.dumps(json.loads(line).get('data'))}", flush=True)
"""

WAITED = f"waiting up to {OUTPUT_HANDSHAKE_WAIT:g} s for output"
NO_ANSWER = f"did not answer within {OUTPUT_HANDSHAKE_WAIT:g} s"


def _counter_into(ws: Workspace, output: str, output_config: str = "") -> None:
    """dstream-counter: 4 envelopes, a checkpoint frame after every 2nd, into `output`."""
    ws.counter_task("t", output, output_config, count=4, checkpoint_every=2)


def test_an_output_that_prints_messages_gets_envelopes_only(ws: Workspace) -> None:
    ws.python_script("out.py", PRINTING_OUTPUT)
    _counter_into(ws, "./out.py")
    for run in (1, 2):  # the second knows the output from the first (describe cache)
        code, doc, err = ws.run_json("run", "t")
        assert code == 0, err
        task = doc["tasks"][0]
        assert task["counters"]["data_frames"] == 4
        assert task["counters"]["checkpoints_withheld"] == 2, (run, task)
        assert task["resumable"] is False, (run, task)
        why = "its stdout did not start with a handshake"
        assert f"does not acknowledge checkpoints ({why})" in err, (run, err)


def test_a_silent_output_gets_no_checkpoint_and_is_waited_for_once(ws: Workspace) -> None:
    """SDK 0.1.1's config-only output of a sink: it writes nothing to stdout at all, and
    counts what it read on stderr. Its first run waits for its first line (5 s at most:
    dstream cannot know before whether it would take checkpoint frames for messages);
    then it is known, and the next run does not wait."""
    _counter_into(ws, zoo("plain_sdk_output"), 'sdk = "0.1.1"')
    waits = []
    for _ in range(2):
        done = ws.run("run", "t", "--log-level", "debug")
        assert done.returncode == 0, done.stderr
        assert "[PlainOutputProvider] Processed 4 messages." in done.stderr, done.stderr
        assert "resume is not possible" in done.stderr
        waits.append((WAITED in done.stderr, NO_ANSWER in done.stderr))
    assert waits == [(True, True), (False, False)], waits


@pytest.mark.parametrize("validate", [True, False], ids=["framed", "passthrough"])
def test_an_output_that_echoes_without_a_handshake_is_given_no_checkpoint(
    ws: Workspace, validate: bool
) -> None:
    """`cat` behind `read -r command` echoes every line; without a handshake it is an
    output dstream knows nothing of, so its echoes are lines for the user, not
    acknowledgements. A passthrough pump cannot hold checkpoint frames back: the run
    stops before the first line, as for an original output that answers."""
    ws.script("out.sh", "#!/bin/sh\nread -r command\nexec cat\n")
    ws.counter_task(
        "t",
        "./out.sh",
        count=4,
        checkpoint_every=2,
        settings="" if validate else "passthrough = true",
    )
    code, doc, err = ws.run_json("run", "t")
    task = doc["tasks"][0]
    if validate:
        assert code == 0, err
        assert task["checkpoints_acknowledged"] == 0, task
        assert task["counters"]["checkpoints_withheld"] == 2, task
        assert task["last_checkpoint"] is None
    else:
        assert code == 1, err
        assert "passthrough = true cannot hold back the checkpoint frames" in str(task["error"])
        assert task["counters"].get("frames", 0) == 0, task
