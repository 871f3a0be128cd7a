"""`dstream provider test` judges a provider as `dstream run` treats it: the same
environment (docs/protocol.md section 1), acknowledgements compared byte for byte
(section 5), a legacy input's text lines taken for its log (section 2), and messages
that say what was seen. Each provider is a script written to the test's directory."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.services import require_service
from tests.workspace import CliResult, Workspace, json_document

# dstream's own credentials, which no provider may see (section 1).
SECRETS = {
    "DSTREAM_REGISTRY_PASSWORD": "s3cret-registry",
    "GITHUB_TOKEN": "ghp_leakytoken",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-key",
    "DOCKER_AUTH_CONFIG": '{"auths":{"x":{"auth":"c2VjcmV0"}}}',
}

# An output that writes its environment to a file of its own per start (the describe
# probe's too) in DUMP_DIR, or dumps/ beside it, then acknowledges every checkpoint as
# received.
ENV_DUMP = f"""#!{sys.executable}
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
folder = os.environ.get("DUMP_DIR") or os.path.join(here, "dumps")
path = os.path.join(folder, "env.%d.json" % os.getpid())
with open(path, "w") as f:
    json.dump(dict(os.environ), f)
if os.environ.get("DSTREAM_DESCRIBE") == "1":
    print(json.dumps({{"status": "ready", "protocol": 1, "role": "output"}}))
    sys.exit(0)
sys.stdin.readline()
print(json.dumps({{"status": "ready", "protocol": 1, "features": ["checkpoints"]}}), flush=True)
for line in sys.stdin:
    if line.startswith('{{"checkpoint"'):
        sys.stdout.write(line)
        sys.stdout.flush()
"""


def _checks(done: CliResult) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in json_document(done)["checks"]}


def _kit(
    ws: Workspace, provider: Path, *options: str
) -> tuple[CliResult, dict[str, dict[str, str]]]:
    """`dstream provider test PROVIDER OPTIONS --json`: how it ended, and its checks by
    name."""
    done = ws.run("provider", "test", str(provider), *options, "--json")
    return done, _checks(done)


def _dumps(directory: Path) -> list[dict[str, str]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("env.*.json"))]


def test_the_provider_gets_none_of_dstreams_credentials(ws: Workspace) -> None:
    provider = ws.script("dump", ENV_DUMP)
    (ws.root / "dumps").mkdir()
    done = ws.run(
        "provider", "test", str(provider), "--check", "eof", "--json",
        env={**SECRETS, "APP_SETTING": "not on the allow-list"},
    )  # fmt: skip
    assert _checks(done)["eof"]["status"] == "pass", done.stdout + done.stderr
    seen = _dumps(ws.root / "dumps")
    assert len(seen) >= 2, "the describe probe (role inference) and the check's run"
    for env in seen:
        leaked = set(SECRETS) & set(env)
        assert not leaked, f"the provider got {sorted(leaked)}"
        assert not any(value in json.dumps(env) for value in SECRETS.values())
        assert "APP_SETTING" not in env  # run would not pass it either


def test_the_provider_gets_exactly_the_environment_run_gives(ws: Workspace) -> None:
    provider = ws.script("dump", ENV_DUMP)
    run_env = {"DUMP_DIR": str(ws.root / "run")}
    ws.counter_task("t", str(provider), count=3, checkpoint_every=1, state="", output_env=run_env)
    (ws.root / "run").mkdir()
    (ws.root / "dumps").mkdir()
    ambient = {**SECRETS, "LC_ALL": "C.UTF-8", "TZ": "UTC", "HTTPS_PROXY": "http://proxy:3128"}
    ran = ws.run("run", "t", env=ambient)
    assert ran.returncode == 0, ran.stderr
    done = ws.run(
        "provider", "test", str(provider), "--role", "output", "--check", "eof", env=ambient
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [under_run] = [env for env in _dumps(ws.root / "run") if "DSTREAM_DESCRIBE" not in env]
    [under_kit] = _dumps(ws.root / "dumps")
    assert under_run.pop("DUMP_DIR") == str(ws.root / "run")  # the block's env map
    assert under_kit.pop("DSTREAM_TASK") == "conformance"
    assert under_run.pop("DSTREAM_TASK") == "t"
    assert under_kit == under_run
    assert under_kit["DSTREAM_LOG_LEVEL"] == "info"
    assert under_kit["DSTREAM_ROLE"] == "output" and under_kit["TZ"] == "UTC"


def test_what_a_block_would_pass_is_given_with_env(ws: Workspace) -> None:
    provider = ws.script("dump", ENV_DUMP)
    (ws.root / "dumps").mkdir()
    done = ws.run(
        "provider", "test", str(provider), "--role", "output", "--check", "eof",
        "--env", "APP_SETTING=a=b c", env={"APP_SETTING": "ambient"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [env] = _dumps(ws.root / "dumps")
    assert env["APP_SETTING"] == "a=b c"


def test_an_env_option_without_a_name_is_refused(ws: Workspace) -> None:
    done = ws.run("provider", "test", "dstream-null", "--env", "=x")
    assert done.returncode == 2
    assert "--env '=***' is not NAME=VALUE" in done.stderr and "hint:" in done.stderr


# -- acknowledgements compared byte for byte -------------------------------------------
# Outputs that echo a checkpoint after decoding and encoding it again, the way a JSON
# library would: dstream refuses each of their acknowledgements.
REENCODERS = {
    "python json.dumps": "json.dumps(json.loads(line))",
    "compact, keys sorted": "json.dumps(json.loads(line), separators=(',', ':'), sort_keys=True)",
    "compact": "json.dumps(json.loads(line), separators=(',', ':'), ensure_ascii=False)",
    "a space after each colon": "line.rstrip('\\n').replace(':', ': ')",
    # Every number a double, as JSON.parse and jq read them: the integer beyond 64 bits
    # comes back rounded, and is still the checkpoint sent, re-encoded.
    "doubles": "json.dumps(json.loads(line, parse_int=float))",
}


ACKING_READY = '{"status":"ready","protocol":1,"features":["checkpoints"]}'


def _echoing_output(
    ws: Workspace,
    echo: str = "line.rstrip('\\n')",
    *,
    before: str = "",
    after: str = "",
    ready: str = ACKING_READY,
) -> Path:
    """An output acknowledging each checkpoint line with `echo` of it after the
    handshake `ready`; `before` and `after` are one line of Python each, run before the
    handshake and after stdin ends."""
    return ws.python_script(
        "sink",
        f"""
        import json, sys
        {before}
        sys.stdin.readline()
        print('{ready}', flush=True)
        for line in sys.stdin:
            if line.startswith('{{"checkpoint"'):
                print({echo}, flush=True)
        {after}
        """,
    )


ECHO_CHECK = ("--check", "checkpoint-echo")


@pytest.mark.parametrize("echo", REENCODERS.values(), ids=REENCODERS.keys())
def test_an_output_that_reencodes_checkpoints_fails_checkpoint_echo(
    ws: Workspace, echo: str
) -> None:
    done, checks = _kit(ws, _echoing_output(ws, echo), "--role", "output", *ECHO_CHECK)
    check = checks["checkpoint-echo"]
    assert done.returncode == 1 and check["status"] == "fail", check
    assert "re-encoded" in check["reason"] and "byte for byte" in check["reason"], check
    assert "echo the line as received" in check["reason"], check


def test_an_output_that_echoes_through_jq_is_told_it_reencodes(ws: Workspace) -> None:
    """jq reads numbers as doubles: the checkpoint's integer above 2^64 comes back
    rounded, which is a re-encoded checkpoint, not one the output never got."""
    jq = shutil.which("jq")
    if jq is None:
        require_service("no jq (apt-get install jq)")
    sink = ws.script(
        "sink.sh",
        f"""
        read -r command
        echo '{ACKING_READY}'
        grep --line-buffered '^{{"checkpoint"' | {jq} --unbuffered -c .
        """,
    )
    done, checks = _kit(ws, sink, "--role", "output", *ECHO_CHECK)
    check = checks["checkpoint-echo"]
    assert done.returncode == 1 and check["status"] == "fail", check
    reason = check["reason"]
    assert "a checkpoint it never got" not in reason, reason
    assert "re-encoded" in reason and "byte for byte" in reason, reason
    assert '"big" was 18446744073709551617, echoed 18446744073709552000' in reason, reason
    assert "round integers above 2^53" in reason and "echo the line as received" in reason


def test_an_output_that_echoes_the_line_passes_checkpoint_echo(ws: Workspace) -> None:
    done, checks = _kit(ws, _echoing_output(ws), "--role", "output", *ECHO_CHECK)
    assert checks["checkpoint-echo"]["status"] == "pass", done.stdout


def test_an_acknowledgement_never_sent_is_not_called_reencoded(ws: Workspace) -> None:
    sink = _echoing_output(ws, '\'{"checkpoint":{"made":"up"}}\'')
    _, checks = _kit(ws, sink, "--role", "output", *ECHO_CHECK)
    check = checks["checkpoint-echo"]
    assert check["status"] == "fail", check
    assert "a checkpoint it never got" in check["reason"] and "re-encoded" not in check["reason"]


# Handshakes after which a run sends an output no checkpoint (docs/protocol.md section 5;
# a null protocol is refused outright, as the handshake check says).
NOT_ACKING = {
    "a bare ready line": '{"status":"ready"}',
}


@pytest.mark.parametrize("ready", NOT_ACKING.values(), ids=NOT_ACKING.keys())
def test_an_output_run_sends_no_checkpoints_fails_the_checkpoint_checks(
    ws: Workspace, ready: str
) -> None:
    sink = _echoing_output(ws, ready=ready)
    ws.counter_task("t", str(sink), count=20, checkpoint_every=5)
    ran = ws.run("run", "t")
    assert "does not acknowledge checkpoints" in ran.stderr, ran.stderr
    assert "resume is not possible" in ran.stderr, ran.stderr
    done, checks = _kit(ws, sink, "--role", "output")
    assert done.returncode == 1, done.stdout
    assert checks["handshake"]["status"] == "pass", checks  # a valid handshake, for all that
    for name in ("checkpoint-echo", "ack-while-open"):
        check = checks[name]
        assert check["status"] == "fail", check
        reason = check["reason"]
        assert reason.startswith('dstream sends it no checkpoints: its handshake has no "protocol"')
        assert 'must carry "protocol": 1' in reason and "resume" in reason, reason
    assert checks["eof"]["status"] == "pass", checks  # it was given envelopes, as by a run


# -- a legacy input's text lines ---------------------------------------------------------
HANDSHAKE_AND_FRAMES = ("--check", "handshake", "--check", "frames")
LOGGING_LEGACY_INPUT = """
read -r command
echo "Starting the ingester..."
echo '{"data":{"n":1},"metadata":{}}'
echo "connected to the source"
echo '{"data":{"n":2},"metadata":{}}'
"""


def test_a_legacy_inputs_text_lines_are_its_log_for_the_kit_too(ws: Workspace) -> None:
    provider = ws.script("in.sh", LOGGING_LEGACY_INPUT)
    _, checks = _kit(ws, provider, "--role", "input", *HANDSHAKE_AND_FRAMES)
    handshake, frames = checks["handshake"], checks["frames"]
    assert handshake["status"] == "pass", handshake
    assert "its first line is data" not in handshake["reason"]
    assert "log" in handshake["reason"], handshake
    assert frames["status"] == "pass", frames
    assert frames["reason"].startswith("2 data frame(s), 0 checkpoint(s), all valid"), frames
    assert "2 log line(s)" in frames["reason"], frames


def test_a_ready_line_after_a_stdout_banner_fails_frames(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh",
        """
        read -r command
        echo "Starting sh-src..."
        echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
        echo '{"data":{"n":1},"metadata":{}}'
        """,
    )
    done, checks = _kit(ws, provider, "--role", "input")
    frames = checks["frames"]
    assert done.returncode == 1 and frames["status"] == "fail", frames
    reason = frames["reason"]
    assert "offset 19" in reason and "status line" in reason, reason
    assert "nothing on stdout before the ready line" in reason, reason


# -- what the messages say ---------------------------------------------------------------
def test_the_config_error_advice_is_the_json_it_asks_for(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh", 'read -r command\necho \'{"data":{"n":1},"metadata":{}}\'\nexit 0\n'
    )
    _, checks = _kit(ws, provider, "--role", "input", "--check", "config-error")
    check = checks["config-error"]
    assert check["status"] == "fail", check
    assert 'answer {"status":"error","message":"..."} as the first line' in check["reason"]
    assert '"..."}}' not in check["reason"], check


def test_an_output_deaf_to_sigterm_did_not_exit_rather_than_still_writing(
    ws: Workspace,
) -> None:
    sink = _echoing_output(
        ws, before="import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)"
    )
    _, checks = _kit(ws, sink, "--role", "output", "--check", "sigterm", "--grace", "1")
    check = checks["sigterm"]
    assert check["status"] == "fail", check
    assert check["reason"] == "did not exit (stdout still open) 1 s after SIGTERM", check


def test_an_input_that_writes_on_after_sigterm_did_not_exit_either(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh",
        """
        trap '' TERM
        read -r command
        echo '{"status":"ready","protocol":1}'
        while true; do echo '{"data":{"n":1},"metadata":{}}'; sleep 0.1; done
        """,
    )
    _, checks = _kit(ws, provider, "--role", "input", "--check", "sigterm", "--grace", "1")
    check = checks["sigterm"]
    assert check["status"] == "fail", check
    reason = check["reason"]
    assert reason.startswith("wrote ") and reason.endswith(
        " more line(s) and did not exit (stdout still open) 1 s after SIGTERM"
    ), check


def test_a_byte_order_mark_before_the_handshake_is_tolerated_as_by_run(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh",
        """
        read -r command
        printf '\\357\\273\\277{"status":"ready","protocol":1,"features":["checkpoints"]}\\r\\n'
        printf '{"data":{"n":1},"metadata":{}}\\r\\n'
        """,
    )
    _, checks = _kit(ws, provider, "--role", "input", *HANDSHAKE_AND_FRAMES)
    assert checks["handshake"]["reason"] == "ready, features: checkpoints", checks
    assert checks["frames"]["status"] == "pass", checks


def test_an_output_that_stays_after_eof_did_not_exit(
    ws: Workspace,
) -> None:
    sink = _echoing_output(ws, after="import time; time.sleep(60)")
    _, checks = _kit(ws, sink, "--role", "output", "--check", "eof", "--grace", "1")
    check = checks["eof"]
    assert check["status"] == "fail", check
    reason = check["reason"]  # it acknowledged the last checkpoints, then stayed
    assert reason.startswith("wrote "), check
    assert " more line(s) and did not exit (stdout still open) 1 s after its stdin" in reason


def test_an_input_that_crashes_mid_stream_is_reported_cut_not_ok(ws: Workspace) -> None:
    """What the user reads in the table: frames FAIL, with the exit and where the stream
    was cut, not `ok` for the frames that came before the crash."""
    provider = ws.script(
        "in.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1}'
        echo '{"data":{"n":1},"metadata":{}}'
        echo '{"data":{"n":2},"metadata":{}}'
        echo 'disk full' >&2
        exit 3
        """,
    )
    done = ws.run("provider", "test", str(provider), "--role", "input", "--check", "frames")
    assert done.returncode == 1, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("frames"))
    assert "FAIL" in row and "all valid" not in row, row
    assert "stream cut: it exited with code 3 after 2 valid frame(s)" in row, row
    assert "at offset 94 of stdout" in row and "disk full" in row, row


def test_an_input_declaring_checkpoints_that_sends_none_fails_checkpoints(ws: Workspace) -> None:
    provider = ws.script(
        "in.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1,"features":["checkpoints"]}'
        echo '{"data":{"n":1},"metadata":{}}'
        echo '{"data":{"n":2},"metadata":{}}'
        """,
    )
    done, checks = _kit(ws, provider, "--role", "input")
    assert done.returncode == 1, done.stdout + done.stderr
    check = checks["checkpoints"]
    assert check["status"] == "fail", check
    reason = check["reason"]
    assert reason.startswith(
        "declares checkpoints but ended its stream after 2 data frame(s) without one"
    ), reason
    assert "next run sends" in reason and "do not declare checkpoints" in reason, reason
    assert checks["frames"]["status"] == "pass", checks  # valid frames: its only flaw


def test_a_long_error_record_on_stderr_is_read_whole(ws: Workspace) -> None:
    """An error record longer than a pipe read (here 100 KiB) is one stderr line to the
    kit as to dstream (runtime/pipes.stderr_line): said as the error, not cut into
    pieces that are no JSON and a last line that is not the error."""
    provider = ws.script(
        "in.sh",
        """
        read -r command
        echo '{"status":"ready","protocol":1}'
        echo '{"data":{"n":1},"metadata":{}}'
        printf '{"level":"error","message":"disk full %0102400d"}\\n' 0 >&2
        echo 'closing' >&2
        exit 3
        """,
    )
    done = ws.run("provider", "test", str(provider), "--role", "input", "--check", "frames")
    assert done.returncode == 1, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("frames"))
    assert '; its error: {"level":"error","message":"disk full 000' in row, row[:400]


# -- frames judged by the pump's own validator ------------------------------------------
# Frames every `dstream run` refuses although they are JSON objects with a checkpoint
# key: the kit must refuse them with the run's very words (docs/protocol.md section 3).
REFUSED_BY_RUN = {
    "a null checkpoint": '{"checkpoint":null}',
    "an escaped checkpoint key": '{"\\u0063heckpoint":3}',
}


@pytest.mark.parametrize("frame", REFUSED_BY_RUN.values(), ids=REFUSED_BY_RUN.keys())
def test_a_frame_run_refuses_fails_frames_with_runs_reason(ws: Workspace, frame: str) -> None:
    provider = ws.script(
        "ik.sh",
        f"""
        read -r command
        echo '{{"status":"ready","protocol":1,"features":["checkpoints"]}}'
        for n in 1 2 3 4; do echo '{{"data":{{"n":1}},"metadata":{{}}}}'; done
        echo '{frame}'
        for n in 1 2 3 4 5; do echo '{{"data":{{"n":2}},"metadata":{{}}}}'; done
        """,
    )
    ws.shell_output_task("./ik.sh")
    ran = ws.run("run", "t")
    assert ran.returncode == 1, ran.stdout + ran.stderr
    # "invalid frame from input './ik.sh' at offset N: WHY"
    where, said = ran.stderr.split("invalid frame from ", 1)[1].splitlines()[0].split(": ", 1)
    _, checks = _kit(ws, provider, "--role", "input", "--check", "frames", "--frames", "20")
    check = checks["frames"]
    assert check["status"] == "fail", check
    assert where.endswith(" at offset 183"), where
    assert check["reason"].startswith("frame at offset 183 "), check
    assert said in check["reason"], (said, check)
