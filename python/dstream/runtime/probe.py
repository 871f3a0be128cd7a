"""Asking a provider what it is without giving it a command (docs/protocol.md, section
2, "Describing a provider without a command"): a provider this installation ships is
described by its own class, imported in-process; any other executable is probed: started
with DSTREAM_DESCRIBE=1 and stdin at /dev/null, bounded by PROBE_TIMEOUT. Never a command
line: the original .NET SDK takes any command it does not know for `run`.

What is asked when, and what is kept, is runtime/describe.py's."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time

from dstream import encoded_environ
from dstream.errors import DstreamError
from dstream.protocol.frames import ENV_DESCRIBE
from dstream.protocol.messages import parse_handshake
from dstream.runtime.description import BUILTIN, PROBE, Description

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

PROBE_TIMEOUT = 10.0  # seconds a probed provider has to write its ready line
# Why a provider is not described, for plan's note and lint's warning alike.
NO_ANSWER = f"it did not answer a describe probe within {PROBE_TIMEOUT:g} s"


def builtin_description(executable: str) -> Optional[Description]:
    """A provider this installation ships: described by its class, imported here."""
    import importlib

    from dstream.extras import installed_distribution

    name = os.path.basename(executable)
    installed = installed_distribution()  # whatever its name: `dstream-io` on PyPI
    if installed is None:
        return None
    target = next(
        (
            p.value
            for p in installed.entry_points
            if p.group == "console_scripts" and p.name == name
        ),
        None,
    )
    if target is None:
        return None
    from dstream.sdk.provider import Provider

    try:
        module = importlib.import_module(target.split(":")[0])
    except ImportError:
        return None
    classes = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, Provider) and v.__module__ == module.__name__
    ]
    if len(classes) != 1:
        return None
    provider = classes[0]
    return Description(
        frozenset(provider.declared_features()),
        1,
        provider.config_schema(),
        BUILTIN,
        role=provider.role or None,
    )


def run_probe(
    executable: str, env: dict[str, str], cwd: str, timeout: float = PROBE_TIMEOUT
) -> Optional[Description]:
    """Start the executable with no command; None when it did not answer in time."""
    env = {**env, ENV_DESCRIBE: "1"}
    try:
        proc = subprocess.Popen(
            [executable],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=encoded_environ(env),
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return Description(note=f"it could not be started: {exc.strerror or exc}")
    assert proc.stdout is not None
    try:
        line = _first_line(proc.stdout.fileno(), time.monotonic() + timeout)
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    if line is None:
        return None
    if not line:
        return Description(
            source=PROBE,
            note="started without a command, it gave no handshake: a provider of the "
            "original DStream",
        )
    try:
        handshake = parse_handshake(line, executable)
    except DstreamError:
        return Description(source=PROBE, note="its handshake is malformed")
    if handshake.is_legacy:
        return Description(source=PROBE, note="started without a command, it wrote data")
    return Description.of_handshake(handshake, PROBE)


def _first_line(fd: int, deadline: float) -> Optional[bytes]:
    """The first line on `fd` (b"" at EOF without one); None past the deadline."""
    buf = b""
    while b"\n" not in buf:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return buf.strip() and buf
        buf += chunk
    return buf.split(b"\n", 1)[0].rstrip(b"\r")
