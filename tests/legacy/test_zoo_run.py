"""`dstream run` with the legacy zoo and the original's example configurations,
unchanged, under dstream's default settings."""

from __future__ import annotations

import orjson

from tests.legacy import MSSQL_TO_ASB, OCI_COUNTER_DEMO, zoo
from tests.workspace import Workspace

INGESTER_LOG_LINES = 6  # Starting, Connected, then Polling + Published per table


def ingester_frames() -> list[bytes]:
    """What the ingester writes to stdout that is an envelope (Go-sorted keys)."""
    import subprocess

    line = orjson.dumps(
        {
            "command": "run",
            "config": {
                "poll_interval": "5s",
                "max_poll_interval": "30s",
                "tables": ["Persons", "Cars"],
            },
        }
    )
    done = subprocess.run([zoo("mssql_ingester")], input=line, capture_output=True, check=True)
    return [x for x in done.stdout.splitlines() if x.startswith(b"{")]


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def test_counter_into_console_prints_every_message(ws: Workspace) -> None:
    ws.config(OCI_COUNTER_DEMO)
    done = ws.run("run", "oci-counter-demo")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"Message #{n}" for n in range(1, 6)]
    assert lines[0].startswith('Message #1: {"value":1,"timestamp":"'), lines
    no_traceback(done.stderr)


def test_ingester_reading_stdin_to_eof_into_service_bus(ws: Workspace) -> None:
    """The ingester reads stdin to EOF before writing anything, prints log lines on
    stdout between its envelopes and never handshakes: every envelope arrives, in
    order, byte for byte; the log lines are logged and counted, not delivered."""
    ws.config(MSSQL_TO_ASB)
    code, doc, err = ws.run_json("run", "mssql-to-asb")
    assert code == 0, err
    no_traceback(err)
    received = (ws.root / "asb" / "received.jsonl").read_bytes().splitlines()
    assert received == ingester_frames()
    persons = ws.json_lines("asb/localhost-testdb-persons.jsonl")
    cars = ws.json_lines("asb/localhost-testdb-cars.jsonl")
    assert (len(persons), len(cars)) == (4, 3)
    task = doc["tasks"][0]
    assert task["counters"]["data_frames"] == 7
    assert task["counters"]["log_lines"] == INGESTER_LOG_LINES
    assert task["counters"]["invalid_frames"] == 0
    # forwarded to dstream's log at info level, with the provider's role
    assert "Starting MSSQL CDC ingester" in err
    assert "Published 3 changes for Cars" in err


def test_legacy_input_writing_nothing_is_an_empty_successful_run(ws: Workspace) -> None:
    ws.python_script("quiet.py", "import sys\nsys.stdin.read()\n")
    ws.config(
        f"""
        task "quiet" {{
          type = "providers"
          input {{ provider_path = "./quiet.py" }}
          output {{
            provider_path = "{zoo("console_output")}"
            config {{ outputFormat = "simple" }}
          }}
        }}
        """
    )
    code, doc, err = ws.run_json("run", "quiet")
    assert code == 0, err
    assert doc["tasks"][0]["outcome"] == "completed"
    assert doc["tasks"][0]["counters"]["frames"] == 0
    no_traceback(err)


def counter_into_console(ws: Workspace, settings: str = "", output: str = "") -> None:
    """Task "t": dstream's counter (25 envelopes, a checkpoint frame every 5) into the
    original console output (or `output`), which does not acknowledge checkpoints."""
    ws.config(
        f"""
        state {{ path = "state" }}
        task "t" {{
          {settings}
          input {{
            provider_path = "dstream-counter"
            config {{
              interval = 0
              max_count = 25
              checkpoint_every = 5
            }}
          }}
          output {{
            provider_path = "{output or zoo("console_output")}"
            config {{ outputFormat = "simple" }}
          }}
        }}
        """
    )


def test_output_without_checkpoints_gets_only_envelopes(ws: Workspace) -> None:
    """dstream's own counter writes checkpoint frames; the original console output does
    not know them and would print each as a message. It gets the envelopes only, and
    the run says once that this task cannot resume."""
    counter_into_console(ws)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    messages = done.stdout.splitlines()
    assert len(messages) == 25, messages
    assert not [m for m in messages if m.endswith(": null")], messages
    assert done.stderr.count("resume is not possible") == 2, done.stderr  # log + summary
    # dstream withheld the input's checkpoints: the input is not blamed for sending none.
    assert "declares checkpoints but sent none" not in done.stderr, done.stderr
    code, doc, err = ws.run_json("run", "t")
    assert code == 0, err
    task = doc["tasks"][0]
    assert task["resumable"] is False
    assert task["checkpoints_acknowledged"] == 0


def test_an_original_output_slower_to_start_than_the_input_gets_no_checkpoint(
    ws: Workspace,
) -> None:
    """The counter writes its first checkpoint frames before an original output that
    takes half a second to start has answered: the pump must not forward them to it
    before its handshake says whether it acknowledges. (It did: the console printed
    `Message #6: null` for each.) A second run, with the output known from the first,
    withholds them from the start."""
    slow = ws.script("slow_console.sh", f"#!/bin/sh\nsleep 0.5\nexec '{zoo('console_output')}'\n")
    counter_into_console(ws, output=str(slow))
    for _ in range(2):
        done = ws.run("run", "t")
        assert done.returncode == 0, done.stderr
        messages = done.stdout.splitlines()
        assert len(messages) == 25, messages
        assert not [m for m in messages if m.endswith(": null")], messages


def test_commit_notices_come_on_their_own_descriptor(ws: Workspace) -> None:
    """An input that declares commit-notices finds its stdin closed after the command
    line (like every input) and reads the notices from the descriptor named in
    DSTREAM_COMMIT_FD."""
    ws.python_script(
        "notified.py",
        """
        import json, os, sys
        command = sys.stdin.readline()
        rest = sys.stdin.read()  # EOF at once: dstream closed stdin
        print(json.dumps({"status": "ready", "protocol": 1,
                          "features": ["checkpoints", "commit-notices"]}), flush=True)
        for n in range(1, 4):
            print(json.dumps({"data": {"n": n}, "metadata": {}}))
            print(json.dumps({"checkpoint": n}), flush=True)
        sys.stdout.flush()
        os.close(1)  # end of the stream; notices may still come
        fd = int(os.environ["DSTREAM_COMMIT_FD"])
        notices = os.fdopen(fd, "rb").read().splitlines()
        with open("notices.txt", "w") as f:
            f.write(json.dumps({"stdin_rest": rest, "last": json.loads(notices[-1])}))
        """,
    )
    ws.shell_output_task("./notified.py", state=True)
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    seen = orjson.loads(ws.read_text("notices.txt"))
    assert seen == {"stdin_rest": "", "last": {"committed": 3}}


def test_a_passthrough_task_refuses_an_output_without_checkpoints(ws: Workspace) -> None:
    """A passthrough pump forwards every line unread, so it cannot hold checkpoint
    frames back from the original console output, which would print each as a message.
    The run stops before a line reaches it, and says why. (It printed
    `Message #N: null` for every checkpoint frame.)"""
    counter_into_console(ws, "passthrough = true")
    done = ws.run("run", "t")
    assert done.returncode == 1, done.stderr
    assert done.stdout == "", done.stdout
    assert "passthrough = true cannot hold back the checkpoint frames" in done.stderr
    assert "remove passthrough = true" in done.stderr
    no_traceback(done.stderr)
