"""Runs of a provider that several checks read: the main run of each role is recorded
once as a Transcript, so `handshake`, `frames`, `eof` and the checkpoint checks judge one
and the same run, and the suite starts as few processes as it can."""

from __future__ import annotations

import signal
import time
from typing import Optional

import orjson

from dstream.kit.harness import Line, Session, Target, Timeout
from dstream.kit.validate import Obj, is_checkpoint, parse_object
from dstream.protocol.frames import FEATURE_COMMIT_NOTICES, KEY_STATUS
from dstream.protocol.messages import KEY_MESSAGE, command_line, folded, handshake_status
from dstream.records import field, record

# Data frames and checkpoints the suite writes to an output.
SAMPLE_TABLE = "conformance"


def sample_envelope(n: int) -> bytes:
    frame = {
        "data": {"n": n, "text": "dstream conformance ✓"},
        "metadata": {"TableName": SAMPLE_TABLE, "OperationType": "Insert", "seq": n},
    }
    return orjson.dumps(frame) + b"\n"


def sample_checkpoint(n: int) -> dict[str, object]:
    return {"conformance": n, "lsn": f"0/{n:X}"}


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
    sent_checkpoints: list[object] = field(default_factory=list)
    acked_while_open: bool = False

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
        """An input's frames: a legacy provider's first line is one of them."""
        return ([self.first] if self.legacy and self.first else []) + self.lines


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
            task="conformance",
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
        """Command line and a first batch ending in a checkpoint, stdin left open until
        that checkpoint is acknowledged (or the timeout passes); then a second batch,
        EOF, and every stdout line until the provider exits."""
        t = Transcript()
        half = max(1, self.target.frames // 2)
        with self.session() as s:
            first_batch = [sample_envelope(n) for n in range(1, half + 1)]
            t.sent_checkpoints.append(sample_checkpoint(1))
            first_batch.append(orjson.dumps({"checkpoint": t.sent_checkpoints[0]}) + b"\n")
            s.send(self.command() + b"".join(first_batch))
            seen: list[Line] = []
            try:
                while not t.acked_while_open:
                    line = s.read_line()
                    if line is None:
                        break
                    seen.append(line)
                    obj, _ = parse_object(line.raw)
                    if obj is not None and is_checkpoint(obj):
                        t.acked_while_open = True
            except Timeout:
                t.waited_out = True
            second = []
            for n in range(half + 1, 2 * half + 1):
                second.append(sample_envelope(n))
                if n % 5 == 0 or n == 2 * half:
                    value = sample_checkpoint(n)
                    t.sent_checkpoints.append(value)
                    second.append(orjson.dumps({"checkpoint": value}) + b"\n")
            s.send(b"".join(second))
            s.close_stdin()
            try:
                seen.extend(s.read_all())
                t.ended = True
                t.exit_code = s.wait()
            except Timeout:
                t.problem = (
                    f"still writing or not exiting {self.target.grace:g} s after its stdin closed"
                )
            t.stderr = s.stderr_tail()
        if seen:
            t.first, t.lines = seen[0], seen[1:]
        return t

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
            payload = self.command()
            if self.target.role == "output":
                value = sample_checkpoint(1)
                t.sent_checkpoints.append(value)
                payload += b"".join(sample_envelope(n) for n in range(1, 4))
                payload += orjson.dumps({"checkpoint": value}) + b"\n"
            s.send(payload)
            seen: list[Line] = []
            try:
                line = s.read_line()
                if line is not None:
                    seen.append(line)
                    if self.target.role == "output" and not _is_ack(line):
                        line = s.read_line()  # give it the chance to acknowledge first
                        if line is not None:
                            seen.append(line)
                    elif self.target.role == "input":
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
            except Timeout:
                t.problem = f"still writing {self.target.grace:g} s after SIGTERM"
            t.exit_code = s.wait()
            t.stderr = s.stderr_tail()
        if seen:
            t.first, t.lines = seen[0], seen[1:]
        return t, None


def status_object(line: Line) -> Optional[Obj]:
    """`line` as a status object when a run takes it for one (parse_handshake's rule:
    `status` and `message` match whatever their case), under the lowercase names the
    checks read; None when a run takes it for a legacy provider's data."""
    obj, _ = parse_object(line.raw)
    if obj is None or (status := handshake_status(obj)) is None:
        return None
    message = folded(obj, KEY_MESSAGE)
    return {**obj, KEY_STATUS: status, **({} if message is None else {KEY_MESSAGE: message})}


def _is_data(line: Line) -> bool:
    return status_object(line) is None


def _is_ack(line: Line) -> bool:
    obj, _ = parse_object(line.raw)
    return obj is not None and is_checkpoint(obj)
