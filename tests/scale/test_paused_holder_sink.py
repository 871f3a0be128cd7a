"""A holder paused past its lease (SIGSTOP: a long GC pause, a frozen VM) while its
input writes on, another run taking the task over meanwhile: resumed, the paused one
forwards nothing more to its output. What the shared sink holds is every envelope, each
written at most once per holder, and nothing of the old holder after the new holder's
first line (docs/scaling.md, "What the lease guarantees").

Before, the resumed holder's pump forwarded its input's backlog (everything the input
wrote during the pause, far more than one commit interval) before the lease's watchdog
thread got to stop it, and the output wrote it into the sink interleaved with the new
holder's lines (tester report ops2, defect 1)."""

from __future__ import annotations

import contextlib
import signal
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import orjson
import pytest

from dstream.errors import ExitCode
from tests.scale.cluster import TASK, Database, Host, Hosts, project, streaming
from tests.services import PostgresServer, wait_until

TTL, RENEW = 3.0, 0.5

# The output of both hosts: every data line is appended to one sink, after the name of
# the host that wrote it (PGAPPNAME: cluster.Host sets it); a checkpoint is acknowledged
# once the lines before it are written.
TAGGING_OUTPUT = r"""#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
exec 3>>"$SINK"
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) printf '%s\n' "$line" ;;
    *) printf '%s %s\n' "$PGAPPNAME" "$line" >&3 ;;
  esac
done
"""

TASK_BLOCK = """
task "{task}" {{
  commit_interval = "200ms"
  stop_grace = "1s"
  input {{
    provider_path = "dstream-counter"
    config {{
      interval         = 2
      max_count        = 0
      checkpoint_every = 20
    }}
  }}
  output {{
    provider_path = "{output}"
    env = {{ SINK = "{sink}" }}
    inherit_env = ["PGAPPNAME"]
  }}
}}
"""


def sink_lines(sink: Path) -> list[tuple[str, int]]:
    """(host, seq) of every line of the sink, in the order they were written."""
    lines = []
    for line in sink.read_bytes().splitlines():
        host, _, envelope = line.partition(b" ")
        lines.append((host.decode(), int(orjson.loads(envelope)["metadata"]["seq"])))
    return lines


def started_writing(sink: Path, host: Host) -> bool:
    return sink.exists() and any(who == host.name for who, _ in sink_lines(sink))


class Takeover(NamedTuple):
    old: Host  # the holder paused past its lease
    new: Host  # the one that took the task over meanwhile
    lines: list[tuple[str, int]]  # the sink's, once both ended
    final: int  # the stored checkpoint then


def take_over_from_a_paused_holder(
    pg_server: PostgresServer, table: str, hosts: Hosts, tmp_path: Path,
    command: tuple[str, ...], end_old: Callable[[Host], None],
) -> Takeover:  # fmt: skip
    """Two hosts run `command`; the holder is paused (its input writes on, into its
    stdout pipe) until the other took the task over and wrote its first line, then
    resumed and ended by `end_old`; the new holder streams on, and is stopped."""
    output = tmp_path / "tagging-output"
    output.write_text(TAGGING_OUTPUT)
    output.chmod(0o755)
    sink = tmp_path / "sink.jsonl"
    text = project(
        pg_server.dsn, table, TASK_BLOCK.format(task=TASK, output=output, sink=sink),
        ttl=TTL, renew=RENEW,
    )  # fmt: skip
    old, new = hosts("a", text), hosts("b", text)
    with contextlib.closing(Database(pg_server.dsn, table)) as db:
        old.start(*command)
        wait_until("the first host to take the lease", db.lease)
        new.start(*command)
        wait_until("the holder to stream", lambda: streaming(db, 0))
        old.signal(signal.SIGSTOP)
        wait_until(
            "the other host to take over",
            lambda: (lease := db.lease()) is not None and lease.pid == new.pid,
            timeout=TTL + 30,
        )
        wait_until("the new holder's first line", lambda: started_writing(sink, new))
        old.signal(signal.SIGCONT)
        end_old(old)
        since = db.checkpoint() or 0
        wait_until("the new holder to stream on", lambda: streaming(db, since))
        new.stop()
        final = db.checkpoint()
    assert final is not None
    return Takeover(old, new, sink_lines(sink), final)


def check_sink(taken: Takeover) -> None:
    """Nothing of the old holder after the new holder's first line; per seq (as the
    tester's count.py counts them) each holder wrote each at most once, and nothing up
    to the stored checkpoint is missing."""
    lines, old, new = taken.lines, taken.old.name, taken.new.name
    first_new = next(i for i, (who, _) in enumerate(lines) if who == new)
    late = [seq for who, seq in lines[first_new:] if who == old]
    assert late == [], (
        f"the old holder wrote {len(late)} envelopes after the new holder's first "
        f"(seqs {late[0]}..{late[-1]})"
    )
    counts = Counter(seq for _, seq in lines)
    assert max(counts.values()) <= 2, counts.most_common(3)
    assert [seq for seq in range(min(counts), taken.final + 1) if seq not in counts] == []


@pytest.mark.timeout(180)
def test_a_run_resumed_past_its_lease_forwards_nothing_more(
    pg_server: PostgresServer, table: str, hosts: Hosts, tmp_path: Path
) -> None:
    def end_old(old: Host) -> None:
        assert old.wait() == 1, old.stderr()

    command = ("run", TASK, "--standby", "--json")
    taken = take_over_from_a_paused_holder(pg_server, table, hosts, tmp_path, command, end_old)
    check_sink(taken)
    [summary] = taken.old.summary()["tasks"]
    assert summary["error"]["error"] in ("LeaseDeadlinePassed", "LeaseFenced"), summary
    # What its pump forwarded is all in the sink, written before the pause: nothing was
    # forwarded past the deadline only to be cut off with the output.
    written = sum(1 for who, _ in taken.lines if who == taken.old.name)
    assert summary["counters"]["data_frames"] == written, summary["counters"]
    # Killed at once, not given the end of its stream: that would let it write into the
    # sink whatever its stdin pipe still held (a frozen VM resumes the output too).
    assert summary["exit_signals"]["output"] == "SIGKILL", (summary, taken.old.stderr())


@pytest.mark.timeout(180)
def test_an_agent_resumed_past_a_tasks_lease_forwards_nothing_more(
    pg_server: PostgresServer, table: str, hosts: Hosts, tmp_path: Path
) -> None:
    """The tester's case: agents; the paused one goes on without the task."""

    def end_old(old: Host) -> None:
        wait_until("the old holder's providers to end", lambda: not old.provider_pids())
        old.signal(signal.SIGTERM)
        assert old.wait() == ExitCode.TERMINATED, old.stderr()

    taken = take_over_from_a_paused_holder(
        pg_server, table, hosts, tmp_path, ("agent", "--json"), end_old
    )
    check_sink(taken)
