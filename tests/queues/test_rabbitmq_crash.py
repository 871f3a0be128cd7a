"""At-least-once into RabbitMQ under SIGKILL: the crash suite of tests/crash, with the
real broker as the output's durable store.

dstream is SIGKILLed at random instants (its providers die with it) and restarted until
the counter's sequence is done. After every kill the queues are drained into what the
consumer has seen so far, and the stored checkpoint must never be ahead of it: every
seq up to the checkpoint was confirmed by the broker before the output acknowledged.
At the end every seq was seen at least once; duplicates are counted, not forbidden.
`DSTREAM_CRASH_LONG=1` kills 100 times instead of 20.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import orjson

from dstream.state.file import FileStore
from tests.queues.rabbit import RabbitServer, configure, queues_of
from tests.workspace import Workspace

KILLS = 100 if os.environ.get("DSTREAM_CRASH_LONG") == "1" else 20
COUNT = 20000  # at 1 ms apart: about 20 s of stream to spread the kills over


def _stored_seq(ws: Workspace) -> int:
    record = FileStore(str(ws.root / "state")).get("cdc")
    return int(record.checkpoint["seq"]) if record else 0


def test_sigkill_of_dstream_loses_nothing_confirmed_by_the_broker(
    ws: Workspace, broker: RabbitServer
) -> None:
    prefix = "crash_"
    rng = random.Random(int(os.environ.get("DSTREAM_CRASH_SEED", "0")) or None)
    configure(ws, broker.url, count=COUNT, pattern=prefix + "{TableName}_cdc_events", interval=1)
    queues = queues_of(prefix)
    assert ws.run("init", "cdc").returncode == 0
    seen: list[int] = []
    kills = 0
    previous = 0
    while kills < KILLS:
        proc = subprocess.Popen(
            ws.command("run", "cdc", "-q"),
            cwd=ws.root,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 1.2))
        if proc.poll() is not None:  # it finished before the kill: the sequence is done
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        time.sleep(0.2)  # the killed output's connection closes; unconfirmed sends settle
        for queue in queues:
            seen += [orjson.loads(body)["value"] for _, body in broker.drain(queue)]
        stored = _stored_seq(ws)
        assert stored >= previous, "the stored checkpoint moved backwards"
        missing = set(range(1, stored + 1)) - set(seen)
        assert not missing, f"checkpoint {stored} is ahead of the broker: {sorted(missing)[:10]}"
        previous = stored
    # A run that ended before its kill is not a kill point: the suite must have made them.
    assert kills == KILLS, f"only {kills} kill points before the stream ended"
    done = ws.run("run", "cdc", "-q", timeout=120)
    assert done.returncode == 0, done.stderr
    for queue in queues:
        seen += [orjson.loads(body)["value"] for _, body in broker.drain(queue)]
    assert set(seen) == set(range(1, COUNT + 1))
    report = {"kills": kills, "seen": len(seen), "duplicates": len(seen) - COUNT}
    print(f"\nrabbitmq crash report: {report}")
    (ws.root / "crash-report.json").write_bytes(orjson.dumps(report))
    assert ws.run("destroy", "cdc", "--auto-approve").returncode == 0
