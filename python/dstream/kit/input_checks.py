"""The conformance checks of an input (kit/checks.py lists every check): its frames,
its checkpoints when it declares them, its end of stream, and its commit notices."""

from __future__ import annotations

from typing import Optional

from dstream.kit.harness import Line, Timeout
from dstream.kit.outcome import (
    Outcome,
    exit_text,
    failed,
    passed,
    skipped,
    stderr_hint,
)
from dstream.kit.probe import Probe, Transcript
from dstream.kit.validate import excerpt, frame_verdict
from dstream.protocol.frames import FEATURE_CHECKPOINTS, FEATURE_COMMIT_NOTICES, KEY_COMMITTED
from dstream.protocol.values import Fragment, encode_json
from dstream.runtime.checkpoints import parse_ack
from dstream.runtime.legacy import is_stray_handshake, stray_handshake_warning


# -- frames and end of stream -------------------------------------------------------
def check_frames(probe: Probe) -> Outcome:
    t = probe.main
    if t.first is None or (t.status_line and t.status_line.get("status") == "error"):
        return skipped("no run to read frames from (see handshake)")
    lines = t.data_lines()
    cut = _crashed(t)
    # dstream discards a crashed input's torn last line: it is where the stream was cut,
    # not an invalid frame of the provider's.
    torn = lines[-1] if cut and lines and not lines[-1].terminated else None
    data = checkpoints = 0
    for line in lines[:-1] if torn else lines:
        if t.legacy and is_stray_handshake(line.raw):
            first = t.first.raw if t.first is not None else None
            return failed(stray_handshake_warning("it", line.offset, line.raw, first))
        problem, checkpoint = frame_verdict(line.raw, probe.target.max_frame_size)
        if problem:
            return failed(f"frame at offset {line.offset} {excerpt(line.raw)}: {problem}")
        if checkpoint:
            checkpoints += 1
        else:
            data += 1
    if cut:
        return failed(_cut(t, data, checkpoints, torn))
    if not data and not checkpoints:
        return skipped("wrote no frames with this config: pass --config that makes it produce")
    logged = len(t.log_lines())
    note = (
        f"; {logged} log line(s) on stdout, not starting with '{{': dstream logs a legacy "
        "input's such lines"
        if logged
        else ""
    )
    return passed(f"{data} data frame(s), {checkpoints} checkpoint(s), all valid{note}")


def _crashed(t: Transcript) -> bool:
    """Whether an input's stream ended in its exit non-zero or a signal: dstream fails
    such a run whatever it wrote before, so its frames are not a complete stream."""
    return t.exit_code not in (None, 0)


def _cut(t: Transcript, data: int, checkpoints: int, torn: Optional[Line]) -> str:
    """Where and how a crashed input's stream was cut, and what came before."""
    read = f"{data + checkpoints} valid frame(s) ({data} data, {checkpoints} checkpoint(s))"
    if torn is not None:
        where = (
            f" and a torn last line of {len(torn.raw)} bytes at offset {torn.offset} "
            "(dstream discards it)"
        )
    else:
        end = max((line.end for line in ([t.first] if t.first else []) + t.lines), default=0)
        where = f", at offset {end} of stdout"
    return (
        f"stream cut: it {exit_text(t.exit_code)} after {read}{where}; dstream delivers "
        f"what came before, then fails the run{stderr_hint(t)}"
    )


def check_input_checkpoints(probe: Probe) -> Outcome:
    """An input that declares checkpoints promises a run of it can resume; one that
    sends none stores no position, and every run starts over (dstream run notes it at
    the end of such a run)."""
    t = probe.main
    if t.first is None or (t.status_line and t.status_line.get("status") == "error"):
        return skipped("no run to read frames from (see handshake)")
    if FEATURE_CHECKPOINTS not in t.features:
        return skipped(f"does not declare {FEATURE_CHECKPOINTS}")
    frames = [
        checkpoint
        for line in t.data_lines()
        for problem, checkpoint in [frame_verdict(line.raw, probe.target.max_frame_size)]
        if problem is None
    ]
    checkpoints = sum(frames)
    data = len(frames) - checkpoints
    if checkpoints:
        return passed(
            f"declares {FEATURE_CHECKPOINTS} and sent {checkpoints} in {len(frames)} frame(s)"
        )
    if not data:
        return skipped("wrote no data frames with this config: pass --config that makes it produce")
    fix = (
        'write {"checkpoint":...} after the data it covers, or do not declare '
        f"{FEATURE_CHECKPOINTS} if it cannot resume"
    )
    if t.ended and not _crashed(t):
        return failed(
            f"declares {FEATURE_CHECKPOINTS} but ended its stream after {data} data frame(s) "
            "without one: no position of it is stored, so the next run sends all of it "
            f"again; {fix}"
        )
    return failed(
        f"declares {FEATURE_CHECKPOINTS} but sent none in the {data} data frame(s) read: a "
        f"run stopped or crashed now resumes from nothing; {fix} (one that writes them "
        "less often: pass a larger --frames and --timeout)"
    )


def check_input_eof(probe: Probe) -> Outcome:
    t = probe.main
    if t.first is None:
        return skipped("no run (see handshake)")
    lines = t.data_lines()  # a last frame without a newline is accepted (section 3)
    if t.ended:
        if t.exit_code is None:
            return failed(f"ended its stream and {exit_text(None)}{stderr_hint(t)}")
        if _crashed(t):
            return failed(
                f"its stream ended as it {exit_text(t.exit_code)}: exit 0 at the end of a "
                f"complete stream{stderr_hint(t)}"
            )
        return passed("ended its stream and exited 0")
    if t.exit_code not in (None, 0):
        return failed(f"{exit_text(t.exit_code)}{stderr_hint(t)}")
    return passed(
        f"still running after {len(lines)} frame(s) with stdin closed (an endless source)"
    )


# -- commit notices --------------------------------------------------------------------
def check_commit_notices(probe: Probe) -> Outcome:
    if FEATURE_COMMIT_NOTICES not in probe.main.features:
        return skipped("does not declare commit-notices")
    with probe.session() as s:
        s.send(probe.command())
        s.close_stdin()  # notices come on DSTREAM_COMMIT_FD, as under dstream
        try:
            for _ in range(probe.target.frames + 1):
                line = s.read_line()
                if line is None:
                    break
                _, checkpoint = frame_verdict(line.raw, probe.target.max_frame_size)
                value = parse_ack(line.raw) if checkpoint else None
                if value is not None:  # its exact bytes, as dstream sends them
                    notice = encode_json({KEY_COMMITTED: Fragment(value)}) + b"\n"
                    if not s.send_notice(notice):
                        return failed("closed DSTREAM_COMMIT_FD while declaring commit-notices")
                    code = s.wait(probe.target.grace) if s.read_line() is None else s.popen.poll()
                    if code not in (None, 0):
                        return failed(f"{exit_text(code)} after a commit notice")
                    return passed("took a commit notice and kept going")
        except Timeout:
            pass
    return skipped("wrote no checkpoint to answer with a commit notice")
