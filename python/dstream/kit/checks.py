"""The conformance checks: one Check per promise of the wire contract (docs/protocol.md),
each a name, the roles it applies to, a one-line description and a `run(probe)` that
returns an Outcome whose reason says what was seen (kit/outcome.py). The table and
--json output of `dstream provider test` are just this list, run in order. An input's
own checks are in kit/input_checks.py."""

from __future__ import annotations

from typing import Optional

from dstream.kit.echo import not_sent
from dstream.kit.harness import Line, Session, Timeout
from dstream.kit.input_checks import (
    check_commit_notices,
    check_frames,
    check_input_checkpoints,
    check_input_eof,
)
from dstream.kit.outcome import (
    Check,
    Outcome,
    exit_text,
    failed,
    passed,
    skipped,
    stderr_hint,
)
from dstream.kit.probe import Probe, Transcript
from dstream.kit.validate import (
    KNOWN_FEATURES,
    excerpt,
    frame_problem,
    handshake_problem,
    is_log_line,
    parse_object,
)
from dstream.protocol.frames import (
    FEATURE_CHECKPOINTS,
    FEATURE_LIFECYCLE,
    PROTOCOL_VERSION,
    ROLES,
)
from dstream.protocol.values import encode_json
from dstream.runtime.checkpoints import is_ack, parse_ack, shown

BOTH = ROLES
# The handshake of an output that acknowledges checkpoints, for advice.
ACKING_READY = encode_json(
    {"status": "ready", "protocol": PROTOCOL_VERSION, "features": [FEATURE_CHECKPOINTS]}
).decode()
# A key no provider knows: the default config-error probe.
UNKNOWN_KEY = "dstream_conformance_unknown_key"


def _when(t: Transcript) -> str:
    """When an output ended: before its stdin did (it stopped reading), or at EOF."""
    return "while its stdin was still being written" if t.left_early else "at EOF"


# -- handshake -------------------------------------------------------------------------
def check_handshake(probe: Probe) -> Outcome:
    t = probe.main
    if t.first is None:
        if probe.target.role == "output" and t.exit_code == 0:
            return passed("wrote nothing at all: a legacy output (dstream reads no handshake)")
        return failed((t.problem or f"wrote no line and {exit_text(t.exit_code)}") + stderr_hint(t))
    status = t.status_line
    if status is None:
        return passed(f"legacy provider: no handshake; {_legacy_first_line(probe, t.first)}")
    problem = handshake_problem(status)
    if problem:
        return failed(problem)
    if status["status"] == "error":
        return failed(
            f"refused the config {encode_json(probe.target.config).decode()}: "
            f"{status.get('message')} (pass --config with a config it accepts)"
        )
    unknown = sorted(t.features - set(KNOWN_FEATURES))
    features = ", ".join(sorted(t.features)) or "none"
    note = f"; unknown features ignored by dstream: {', '.join(unknown)}" if unknown else ""
    return passed(f"ready, features: {features}{note}")


def _legacy_first_line(probe: Probe, first: Line) -> str:
    """What dstream does with a legacy provider's first line (docs/protocol.md, 2)."""
    if probe.target.role == "output":
        said = "dstream shows its first line to the user"
    elif is_log_line(first.raw):
        said = "its first line is not JSON, so dstream logs it, as any such line of a legacy input"
    else:
        said = "its first line is its first data frame"
    return f'{said} (protocol 1 providers answer {{"status":"ready"}} first)'


# -- config errors ---------------------------------------------------------------------
def check_config_error(probe: Probe) -> Outcome:
    bad = probe.target.bad_config
    if bad is None:
        bad = {**probe.target.config, UNKNOWN_KEY: True}
        what = f"an unknown key '{UNKNOWN_KEY}'"
    else:
        what = f"--bad-config {encode_json(bad).decode()}"
    with probe.session() as s:
        s.send(probe.command(config=bad))
        s.close_stdin()
        try:
            lines = s.read_all(probe.target.timeout)
        except Timeout as exc:
            lines = exc.lines
        first = parse_object(lines[0].raw)[0] if lines else None
        if first is not None and first.get("status") == "ready":
            return failed(
                f'accepted {what} ({{"status":"ready"}}): reject unknown keys with '
                '{"status":"error","message":...}, or pass --bad-config with a config it '
                "must refuse"
            )
        if first is None and s.popen.poll() is None:
            return failed(f"given {what}, it kept running: refuse a config it cannot use")
        code = s.wait()
        tail = s.stderr_tail()
    if first is not None and first.get("status") == "error":
        problem = handshake_problem(first)
        if problem:
            return failed(problem)
        if code == 0:
            return failed(f'answered {{"status":"error"}} to {what} but exited 0')
        return passed(f"refused {what}: {first.get('message')}")
    if probe.main.legacy and code not in (0, None) and tail:
        return passed(f"legacy style: {exit_text(code)}, stderr: {tail[-1]}")
    shown = excerpt(lines[0].raw) if lines else "nothing"
    return failed(
        f"given {what}, it wrote {shown} and {exit_text(code)}; answer "
        '{"status":"error","message":"..."} as the first line and exit non-zero'
    )


def check_bad_command_line(probe: Probe) -> Outcome:
    with probe.session() as s:
        s.send(b"this is not a command line\n")
        s.close_stdin()
        try:
            lines = s.read_all(probe.target.timeout)
        except Timeout:
            return failed("kept running after an unreadable command line")
        code = s.wait()
        tail = s.stderr_tail()
    first = parse_object(lines[0].raw)[0] if lines else None
    said = None
    if first is not None and first.get("status") == "error" and first.get("message"):
        said = str(first["message"])
        lines = lines[1:]
    if lines:
        return failed(f"wrote {excerpt(lines[0].raw)} after an unreadable command line")
    if code == 0:
        return failed("exited 0 after an unreadable command line: exit non-zero")
    if not said and not tail:
        return failed(f"{exit_text(code)} without saying why (no error status, empty stderr)")
    return passed(f"{exit_text(code)}: {said or tail[-1]}")


# -- legacy ----------------------------------------------------------------------------
def check_legacy_command_line(probe: Probe) -> Outcome:
    """The original DStream wrote the config object alone and set no DSTREAM_* variables."""
    legacy_line = encode_json(probe.target.config) + b"\n"
    with probe.session(protocol_env=False) as s:
        if probe.target.role == "output":
            from dstream.kit.probe import sample_envelope

            s.send(legacy_line + b"".join(sample_envelope(n) for n in range(1, 4)))
            s.close_stdin()
            try:
                lines = s.read_all()
            except Timeout:
                return failed("did not exit after its stdin closed (config object alone)")
            code = s.wait()
            if lines and _is_error(lines[0]):
                return failed(f"refused the config object alone: {excerpt(lines[0].raw)}")
            if code != 0:
                return failed(f"{exit_text(code)} given the config object alone")
            return passed("ran with the config object alone and exited 0 at EOF")
        s.send(legacy_line)
        s.close_stdin()
        try:
            first = _first_not_log(s, probe.target.frames)
            following = s.read_line() if first is not None and not _is_data(first) else None
        except Timeout:
            if probe.main.data_lines():
                return failed("wrote no frame given the config object alone")
            return skipped("it wrote no frames in the main run either")
        code = s.popen.poll()
    if first is None:
        return failed(f"wrote nothing and {exit_text(code)} given the config object alone")
    if _is_error(first):
        return failed(f"refused the config object alone: {excerpt(first.raw)}")
    frame = first if _is_data(first) else following
    if frame is not None:
        problem = frame_problem(frame.raw, probe.target.max_frame_size)
        if problem:
            return failed(f"its frame {excerpt(frame.raw)} is {problem}")
    return passed("started from the config object alone, as the original DStream ran it")


def _first_not_log(s: Session, most: int) -> Optional[Line]:
    """The first stdout line that is not a log line (a legacy input's text, which
    dstream logs), of the first `most`; None at EOF."""
    line = s.read_line()
    for _ in range(most):
        if line is None or not is_log_line(line.raw):
            break
        line = s.read_line()
    return line


def _is_error(line: Line) -> bool:
    obj, _ = parse_object(line.raw)
    return obj is not None and obj.get("status") == "error"


def _is_data(line: Line) -> bool:
    obj, _ = parse_object(line.raw)
    return obj is None or "status" not in obj


# -- output: acknowledgements ------------------------------------------------------------
def _ack_value(line: Line) -> Optional[bytes]:
    """The checkpoint an output line acknowledges, its value's exact bytes, as a run
    reads it (runtime/checkpoints.py); None for any other line."""
    return parse_ack(line.raw) if is_ack(line.raw) else None


def _acks(t: Transcript) -> tuple[list[bytes], Optional[str]]:
    acks = [
        value
        for line in ([t.first] if t.first is not None else []) + t.lines
        if (value := _ack_value(line)) is not None
    ]
    position = -1
    for value in acks:
        if value not in t.sent_checkpoints:
            return acks, not_sent(value, t.sent_checkpoints)
        index = t.sent_checkpoints.index(value)
        if index <= position:
            return acks, (
                f"acknowledged {shown(value)} out of order or twice: "
                "acknowledge each checkpoint once, in input order"
            )
        position = index
    return acks, None


def _sent_none(t: Transcript) -> Optional[Outcome]:
    """The checkpoint checks' failure for an output a run sends no checkpoint frame, as
    none was sent it here: its task cannot resume (docs/protocol.md, section 5)."""
    if t.no_checkpoints is None:
        return None
    return failed(
        f"dstream sends it no checkpoints: {t.no_checkpoints}, so it gets envelopes only "
        "and its task cannot resume; its handshake must carry "
        f'"protocol": {PROTOCOL_VERSION} for checkpoints '
        f"to be sent, e.g. {ACKING_READY}"
    )


def check_checkpoint_echo(probe: Probe) -> Outcome:
    t = probe.main
    if t.problem:
        return failed(t.problem + stderr_hint(t))
    none = _sent_none(t)
    if none:
        return none
    acks, problem = _acks(t)
    if problem:
        return failed(problem)
    last = t.sent_checkpoints[-1]
    if (not acks or acks[-1] != last) and t.exit_code not in (0, None):
        return failed(
            f"{exit_text(t.exit_code)} {_when(t)}, before acknowledging the last "
            f"checkpoint {shown(last)}{stderr_hint(t)}"
        )
    if not acks or acks[-1] != last:
        return failed(
            f"did not acknowledge the last checkpoint {shown(last)} before "
            'exiting at EOF: echo the same {"checkpoint":...} line once what precedes it is durable'
        )
    return passed(f"{len(acks)} of {len(t.sent_checkpoints)} checkpoints acknowledged, in order")


def check_ack_while_open(probe: Probe) -> Outcome:
    t = probe.main
    none = _sent_none(t)
    if none:
        return none
    if t.acked_while_open:
        return passed("acknowledged a checkpoint while its stdin was still open")
    if t.left_early:
        return failed(f"acknowledged nothing, and {exit_text(t.exit_code)} {_when(t)}")
    return failed(
        f"acknowledged nothing within {probe.target.timeout:g} s while its stdin stayed open: "
        "dstream could store checkpoints only when a run ends"
    )


def check_output_eof(probe: Probe) -> Outcome:
    t = probe.main
    if t.problem:
        return failed(t.problem + stderr_hint(t))
    if t.left_early:  # exit 0 too: it cannot have flushed what it never read
        return failed(f"{exit_text(t.exit_code)} {_when(t)}{stderr_hint(t)}")
    if t.exit_code != 0:
        return failed(f"{exit_text(t.exit_code)} at EOF{stderr_hint(t)}: flush and exit 0")
    return passed("flushed and exited 0 at EOF")


# -- SIGTERM ---------------------------------------------------------------------------
def check_sigterm(probe: Probe) -> Outcome:
    t, skip = probe.stop_with_sigterm()
    if t is None:
        return skipped(f"{skip}: pass --config that keeps it running")
    if t.problem:
        return failed(t.problem)
    if t.exit_code != 0:
        return failed(f"{exit_text(t.exit_code)} after SIGTERM: stop, flush and exit 0")
    lines = t.lines if probe.target.role == "output" or t.status_line else t.data_lines()
    if probe.target.role == "input":
        for line in lines:
            problem = frame_problem(line.raw, probe.target.max_frame_size)
            if problem:
                return failed(f"after SIGTERM, frame {excerpt(line.raw)}: {problem}")
    else:
        _, problem = _acks(t)
        if problem:
            return failed(problem)
    return passed("exited 0 after SIGTERM")


# -- lifecycle -------------------------------------------------------------------------
def _lifecycle_declared(probe: Probe) -> Optional[Outcome]:
    if FEATURE_LIFECYCLE in probe.main.features:
        return None
    return skipped("does not declare lifecycle: dstream reports no infrastructure")


def check_lifecycle_shape(probe: Probe) -> Outcome:
    skip = _lifecycle_declared(probe)
    if skip:
        return skip
    seen = []
    for command in ("status", "plan"):
        result, problem = probe.lifecycle(command)
        if result is None:
            return failed(problem or command)
        seen.append(f"{command}: {result['status']}")
    return passed("; ".join(seen))


def check_init_idempotent(probe: Probe) -> Outcome:
    skip = _lifecycle_declared(probe)
    if skip:
        return skip
    results = []
    for n in (1, 2):
        result, problem = probe.lifecycle("init")
        if result is None:
            return failed(f"init #{n}: {problem}")
        if result["status"] != "Success":
            return failed(f"init #{n} said {result['status']}: {result.get('error') or ''}")
        results.append(result)
    again = [c for c in results[1].get("changes") or [] if c.get("action") == "create"]
    if again:
        names = ", ".join(f"{c['type']} {c['name']}" for c in again)
        return failed(f"the second init created again: {names}")
    return passed(f"init twice: {len(results[0].get('changes') or [])} change(s), then none")


def check_destroy_idempotent(probe: Probe) -> Outcome:
    skip = _lifecycle_declared(probe)
    if skip:
        return skip
    for n in (1, 2):
        result, problem = probe.lifecycle("destroy")
        if result is None:
            return failed(f"destroy #{n}: {problem}")
        if result["status"] != "Success":
            return failed(
                f"destroy #{n} said {result['status']}: destroying what is gone must succeed"
            )
    return passed("destroy twice succeeded")


# In run order: lifecycle init first (a run may need what it creates), destroy last.
CHECKS: tuple[Check, ...] = (
    Check("handshake", BOTH, "first stdout line is a valid status line", check_handshake),
    Check("config-error", BOTH, "a bad config is refused with an error status", check_config_error),
    Check(
        "bad-command-line", BOTH, "an unreadable command line fails loudly", check_bad_command_line
    ),
    Check(
        "legacy-command-line", BOTH, "runs from the config object alone", check_legacy_command_line
    ),
    Check("init-idempotent", BOTH, "init twice: the second creates nothing", check_init_idempotent),
    Check("frames", ("input",), "every stdout line is a valid frame", check_frames),
    Check("checkpoints", ("input",), "sends checkpoints when declared", check_input_checkpoints),
    Check("eof", ("input",), "stdin closed: runs on, ends with exit 0", check_input_eof),
    Check(
        "commit-notices", ("input",), "takes {committed} lines when declared", check_commit_notices
    ),
    Check(
        "checkpoint-echo",
        ("output",),
        "acks are the received checkpoints, in order",
        check_checkpoint_echo,
    ),
    Check("ack-while-open", ("output",), "acks without waiting for EOF", check_ack_while_open),
    Check("eof", ("output",), "EOF on stdin: flush, exit 0", check_output_eof),
    Check("sigterm", BOTH, "SIGTERM: stop, flush, exit 0", check_sigterm),
    Check(
        "lifecycle-shape",
        BOTH,
        "status/plan results have the contract's shape",
        check_lifecycle_shape,
    ),
    Check("destroy-idempotent", BOTH, "destroy twice succeeds", check_destroy_idempotent),
)


def checks_for(role: str) -> list[Check]:
    return [check for check in CHECKS if role in check.roles]
