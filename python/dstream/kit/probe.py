"""Runs of a provider that several checks read: the main run of each role is recorded
once as a Transcript, so `handshake`, `frames`, `eof` and the checkpoint checks judge one
and the same run, and the suite starts as few processes as it can."""

from __future__ import annotations

import signal
import time
from typing import Optional

import orjson

from dstream.errors import DstreamError
from dstream.kit.harness import TASK, Line, Session, Target, Timeout
from dstream.kit.validate import Obj, is_log_line, parse_object
from dstream.protocol.frames import FEATURE_COMMIT_NOTICES, KEY_STATUS
from dstream.protocol.messages import (
    ERROR,
    KEY_MESSAGE,
    command_line,
    folded,
    handshake_status,
    parse_handshake,
)
from dstream.protocol.values import decode_json
from dstream.records import field, record
from dstream.runtime.checkpoints import is_ack, parse_ack
from dstream.runtime.legacy import BARE_READY, NO_HANDSHAKE, OUTPUT_HANDSHAKE_WAIT, acknowledges

# Data frames and checkpoints the suite writes to an output.
SAMPLE_TABLE = "conformance"


def sample_envelope(n: int) -> bytes:
    frame = {
        "data": {"n": n, "text": "dstream conformance ✓"},
        "metadata": {"TableName": SAMPLE_TABLE, "OperationType": "Insert", "seq": n},
    }
    return orjson.dumps(frame) + b"\n"


def sample_checkpoint(n: int) -> bytes:
    """The exact bytes of the n-th checkpoint value sent to an output. dstream compares
    an acknowledgement with what it sent byte for byte (docs/protocol.md, section 5),
    so this value holds what a JSON library changes when it decodes and encodes it
    again: keys out of sorted order, a zero fraction (JavaScript, Jackson and Perl
    write 5000), an exponent (Python writes 100.0), an integer beyond 64 bits and a
    \\u escape. Only an output that echoes what it got passes."""
    return (
        b'{"lsn":"0/%X","conformance":%d,"rate":5000.0,"scale":1e2,'
        b'"big":18446744073709551617,"note":"caf\\u00e9"}' % (n, n)
    )


def checkpoint_frame(value: bytes) -> bytes:
    return b'{"checkpoint":' + value + b"}\n"


@record
class Transcript:
    """What one run of a provider wrote and how it ended."""

    first: Optional[Line] = None  # the first stdout line: handshake, or legacy data
    lines: list[Line] = field(default_factory=list)  # every stdout line after it
    exit_code: Optional[int] = None  # None: still running when the suite stopped it
    ended: bool = False  # stdout reached EOF
    waited_out: bool = False  # the suite stopped waiting for a line (a slow source)
    problem: Optional[str] = None  # why the run could not be judged
    stderr: list[str] = field(default_factory=list)
    # Outputs only:
    sent_checkpoints: list[bytes] = field(default_factory=list)  # their values' bytes
    # Why a run would send it no checkpoint frame, so none was sent (None: it would).
    no_checkpoints: Optional[str] = None
    acked_while_open: bool = False
    left_early: bool = False  # it stopped reading stdin before the suite closed it

    @property
    def status_line(self) -> Optional[Obj]:
        """The first line as a status object, or None for a legacy provider."""
        return None if self.first is None else status_object(self.first)

    @property
    def legacy(self) -> bool:
        return self.first is not None and self.status_line is None

    @property
    def features(self) -> frozenset[str]:
        status = self.status_line or {}
        features = status.get("features")
        if isinstance(features, list):
            return frozenset(f for f in features if isinstance(f, str))
        return frozenset()

    def data_lines(self) -> list[Line]:
        """An input's frames: a legacy provider's first line is one of them, its log
        lines are not (log_lines)."""
        if not self.legacy:
            return self.lines
        return [line for line in self._legacy_lines() if not is_log_line(line.raw)]

    def log_lines(self) -> list[Line]:
        """A legacy input's stdout lines that dstream logs (validate.is_log_line)."""
        if not self.legacy:
            return []
        return [line for line in self._legacy_lines() if is_log_line(line.raw)]

    def _legacy_lines(self) -> list[Line]:
        return ([self.first] if self.first else []) + self.lines


class Probe:
    """The provider under test plus what was learnt about it so far."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._main: Optional[Transcript] = None

    def session(self, *, protocol_env: bool = True) -> Session:
        return Session(self.target, protocol_env=protocol_env)

    def command(self, command: str = "run", config: Optional[dict[str, object]] = None) -> bytes:
        return command_line(
            command,
            dict(self.target.config if config is None else config),
            task=TASK,
            role=self.target.role,
        )

    @property
    def main(self) -> Transcript:
        if self._main is None:
            run = self._input_run if self.target.role == "input" else self._output_run
            self._main = run()
        return self._main

    # -- the main runs -----------------------------------------------------------------
    def _input_run(self) -> Transcript:
        t = Transcript()
        with self.session() as s:
            s.send(self.command())
            s.close_stdin()  # as dstream does after the command line
            try:
                t.first = s.read_line()
                if t.first is not None:
                    if FEATURE_COMMIT_NOTICES not in t.features:
                        s.close_notices()
                    budget = self.target.frames - (1 if t.legacy else 0)
                    # A slow source is read for at most `timeout` seconds in all.
                    deadline = time.monotonic() + self.target.timeout
                    while budget > 0 and time.monotonic() < deadline:
                        line = s.read_line(max(0.0, deadline - time.monotonic()))
                        if line is None:
                            break
                        t.lines.append(line)
                        budget -= 1
            except Timeout:
                if t.first is None:
                    t.problem = f"wrote nothing within {self.target.timeout:g} s of start"
                t.waited_out = True
            t.ended = s.eof
            if s.eof:
                t.exit_code = s.wait()
            else:
                t.exit_code = s.popen.poll()
            t.stderr = s.stderr_tail()
        return t

    def _output_run(self) -> Transcript:
        """Command line, handshake, and a first batch ending in a checkpoint, stdin left
        open until that checkpoint is acknowledged (or the timeout passes); then a second
        batch, EOF, and every stdout line until the provider exits. Checkpoints go only
        to an output a run sends them to (`checkpoints_withheld`), as in a run."""
        t = Transcript()
        half = max(1, self.target.frames // 2)
        with self.session() as s:
            seen, t.no_checkpoints = self._output_answer(s)
            first_batch = [sample_envelope(n) for n in range(1, half + 1)]
            if t.no_checkpoints is None:
                t.sent_checkpoints.append(sample_checkpoint(1))
                first_batch.append(checkpoint_frame(t.sent_checkpoints[0]))
            if not s.send(b"".join(first_batch)):
                t.left_early = True
            try:
                while t.no_checkpoints is None and not t.acked_while_open:
                    line = s.read_line()
                    if line is None:  # its stdout ended with its stdin still open
                        t.left_early = True
                        break
                    seen.append(line)
                    if _is_ack(line):
                        t.acked_while_open = True
            except Timeout:
                t.waited_out = True
            second = []
            for n in range(half + 1, 2 * half + 1):
                second.append(sample_envelope(n))
                if t.no_checkpoints is None and (n % 5 == 0 or n == 2 * half):
                    value = sample_checkpoint(n)
                    t.sent_checkpoints.append(value)
                    second.append(checkpoint_frame(value))
            if not s.send(b"".join(second)):
                t.left_early = True  # it no longer reads: gone before its stdin ended
            s.close_stdin()
            try:
                seen.extend(s.read_all())
                t.ended = True
                t.exit_code = s.wait()
            except Timeout as exc:
                seen.extend(exc.lines)
                t.problem = self._not_ended(exc, "its stdin closed")
            t.stderr = s.stderr_tail()
        if seen:
            t.first, t.lines = seen[0], seen[1:]
        return t

    def _output_batch_before_sigterm(self, s: Session, t: Transcript) -> list[Line]:
        """An output's handshake, a few envelopes and, if a run would send it one, a
        checkpoint, whose acknowledgement it is given the chance to write; what it wrote."""
        seen, t.no_checkpoints = self._output_answer(s)
        payload = b"".join(sample_envelope(n) for n in range(1, 4))
        if t.no_checkpoints is None:
            t.sent_checkpoints.append(sample_checkpoint(1))
            payload += checkpoint_frame(t.sent_checkpoints[0])
        s.send(payload)
        if t.sent_checkpoints:
            try:
                line = s.read_line()
            except Timeout:
                return seen
            if line is not None:
                seen.append(line)
        return seen

    def _output_answer(self, s: Session) -> tuple[list[Line], Optional[str]]:
        """Send an output its command line and wait for its first line as a run waits
        (OUTPUT_HANDSHAKE_WAIT at most, before the pump starts): that line, if any, and
        why a run would send it no checkpoint frame (None: it would)."""
        s.send(self.command())
        try:
            first = s.read_line(min(OUTPUT_HANDSHAKE_WAIT, self.target.timeout))
        except Timeout:
            first = None
        return ([first] if first is not None else []), no_checkpoints_why(first)

    def _not_ended(self, timeout: Timeout, after: str) -> str:
        """Why a run whose stdout did not end within the grace cannot be judged: it did
        not exit, whether or not it wrote more lines meanwhile (which says nothing of
        whether it is still writing: it may have stopped at the first)."""
        wrote = f"wrote {len(timeout.lines)} more line(s) and " if timeout.lines else ""
        return f"{wrote}did not exit (stdout still open) {self.target.grace:g} s after {after}"

    # -- single-purpose runs -----------------------------------------------------------
    def lifecycle(self, command: str) -> tuple[Optional[Obj], Optional[str]]:
        """Run one lifecycle command: (result object, None) or (None, what went wrong)."""
        from dstream.kit.validate import excerpt, lifecycle_problem

        with self.session() as s:
            s.send(self.command(command))
            s.close_stdin()
            try:
                lines = s.read_all(self.target.timeout + self.target.grace)
            except Timeout:
                return None, f"`{command}` did not finish within the timeout"
            code = s.wait()
            tail = s.stderr_tail()
        where = f" (stderr: {tail[-1]})" if tail else ""
        if len(lines) < 2:
            return None, f"`{command}` wrote {len(lines)} line(s); expected the handshake " + (
                f"and one result line; exit code {code}{where}"
            )
        if len(lines) > 2:
            return None, f"`{command}` wrote {len(lines)} lines; expected handshake + one result"
        result, why = parse_object(lines[1].raw)
        if result is None:
            return None, f"`{command}` result {excerpt(lines[1].raw)} is {why}"
        problem = lifecycle_problem(result)
        if problem:
            return None, f"`{command}` result: {problem}"
        if result["status"] == "Success" and code != 0:
            return None, f"`{command}` said Success but exited with code {code}{where}"
        if result["status"] == "Failed" and code == 0:
            return None, f"`{command}` said Failed but exited 0; exit non-zero on failure"
        return result, None

    def stop_with_sigterm(self) -> tuple[Optional[Transcript], Optional[str]]:
        """A run stopped by SIGTERM: after the handshake (input) or after a batch and its
        checkpoint (output), stdin still open for an output."""
        t = Transcript()
        with self.session() as s:
            seen: list[Line] = []
            try:
                if self.target.role == "output":
                    seen = self._output_batch_before_sigterm(s, t)
                else:
                    s.send(self.command())
                    line = s.read_line()
                    if line is not None:
                        seen.append(line)
                        s.close_stdin()
                        if not _is_data(line):
                            # A frame after the handshake: the provider is in its run
                            # loop, where dstream's SIGTERM usually finds it.
                            extra = s.read_line()
                            if extra is not None:
                                seen.append(extra)
            except Timeout:
                pass
            if s.popen.poll() is not None or s.eof:
                return None, "it ended before the signal could be sent"
            s.signal(signal.SIGTERM)
            try:
                seen.extend(s.read_all())
                t.ended = True
            except Timeout as exc:
                seen.extend(exc.lines)
                t.problem = self._not_ended(exc, "SIGTERM")
            t.exit_code = s.wait()
            t.stderr = s.stderr_tail()
        if seen:
            t.first, t.lines = seen[0], seen[1:]
        return t, None


def status_object(line: Line) -> Optional[Obj]:
    """`line` as a status object when a run takes it for one (parse_handshake's rule:
    `status` and `message` match whatever their case), under the lowercase names the
    checks read; None when a run takes it for a legacy provider's data. Decoded as
    parse_handshake decodes it, a byte order mark before it included."""
    try:
        obj = decode_json(line.raw)
    except ValueError:
        return None
    if not isinstance(obj, dict) or (status := handshake_status(obj)) is None:
        return None
    message = folded(obj, KEY_MESSAGE)
    return {**obj, KEY_STATUS: status, **({} if message is None else {KEY_MESSAGE: message})}


def no_checkpoints_why(first: Optional[Line]) -> Optional[str]:
    """Why a run sends an output whose first stdout line is `first` (None: none came in
    time) no checkpoint frame, in the run's words (runtime/legacy.py); None when it
    sends them. Decided by the run's own rule, acknowledges()."""
    if first is None:
        return (
            f"it wrote nothing within {OUTPUT_HANDSHAKE_WAIT:g} s of its command line, so "
            f"dstream takes it for an output without a handshake: {NO_HANDSHAKE}"
        )
    try:
        handshake = parse_handshake(first.raw)
    except DstreamError:
        return "dstream refuses its handshake (see the handshake check)"
    if handshake.status == ERROR:
        return "it refused the config (see the handshake check)"
    if handshake.is_legacy:
        return NO_HANDSHAKE
    return None if acknowledges(handshake) else BARE_READY


def _is_data(line: Line) -> bool:
    return status_object(line) is None


def _is_ack(line: Line) -> bool:
    """Whether a run reads an output's line as an acknowledgement (of any value)."""
    return is_ack(line.raw) and parse_ack(line.raw) is not None
