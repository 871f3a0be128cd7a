"""The error boundary's report: what an exception that is not a DstreamError (a bug in
dstream) leaves behind.

The user sees one line naming a crash report file; the file holds the traceback, with
every value dstream knows to be secret replaced. Reports go to
`$XDG_STATE_HOME/dstream/crash-<UTC time>-<pid>.txt` (default `~/.local/state/dstream`),
or to the temporary directory when that cannot be written; docs/security.md says so.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Optional, TextIO

from dstream.cli.flags import VAR_FLAGS
from dstream.errors import ExitCode
from dstream.protocol.values import encode_json


def crash_dir(environ: Optional[dict[str, str]] = None) -> Path:
    environ = dict(os.environ if environ is None else environ)
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "dstream"


def _remember_environment(environ: dict[str, str], argv: list[str]) -> None:
    """Besides the sensitive values the configuration registered, a crash report hides
    every DSTREAM_VAR_* and --var value (the crash may come before the configuration
    is read, which says which are sensitive) and dstream's own credentials."""
    from dstream.config.redact import remember, remember_environment
    from dstream.config.scope import ENV_VAR_PREFIX  # given by environment: may be secret

    remember_environment(environ)
    remember(value for name, value in environ.items() if name.startswith(ENV_VAR_PREFIX))
    remember(value for _, _, _, value in _assignments(argv))


def _assignments(argv: list[str]) -> list[tuple[int, str, str, str]]:
    """Each --var assignment of `argv` (`--var NAME=VALUE`, `--var=NAME=VALUE`, the same
    with -var; a VALUE without a name too): the index of its word, what comes before it
    in that word ("--var=" or ""), the name ("" when none) and the value."""
    found = []
    for index, word in enumerate(argv):
        flag, eq, _ = word.partition("=")
        if flag not in VAR_FLAGS:
            continue
        lead = flag + "=" if eq else ""
        where = index if eq else index + 1
        if where < len(argv):
            name, named, value = argv[where][len(lead) :].partition("=")
            found.append((where, lead, name, value) if named else (where, lead, "", name))
    return found


def masked_var_values(argv: list[str]) -> list[str]:
    """The words of `argv` with every --var value masked, whatever its length (the
    redactor leaves short values alone), the variable's name kept: how a crash report
    and a usage error (cli/parsing.py) show a command line, read before the
    configuration says which variables are sensitive."""
    return [masked for _, masked in masked_var_words(argv)]


def masked_var_words(argv: list[str]) -> list[tuple[bool, str]]:
    """Each word of `argv` (`masked_var_values`), with whether it holds a masked --var
    value: what a usage error shows as it is."""
    from dstream.config.redact import masked_assignment

    words = [(False, word) for word in argv]
    for index, lead, _, _ in _assignments(argv):
        words[index] = (True, lead + masked_assignment(argv[index][len(lead) :]))
    return words


def shown_command(argv: list[str]) -> str:
    """The command line as a crash report shows it (`masked_var_values`)."""
    return " ".join(masked_var_values(argv))


def report(
    exc: BaseException, *, json: bool = False, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    """Write the crash report, print the one line that names it (and, for --json, the
    one JSON document on stdout), return the exit code."""
    from dstream.config.redact import redact_text

    environ = dict(os.environ)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = (
        f"dstream crashed: {type(exc).__name__}\n"
        f"command: {shown_command(sys.argv)}\n"
        f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n\n"
    )
    _remember_environment(environ, sys.argv)
    body = redact_text(header + text)
    name = f"crash-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}.txt"
    path = _write(name, body, environ)
    where = f"the traceback is in {path}" if path else "no crash report could be written"
    message = f"internal error ({type(exc).__name__}), a bug in dstream: {where}; please report it"
    err.write(f"error: {message}\n")
    err.flush()
    if json:
        document = {"ok": False, "error": "InternalError", "message": message}
        document["crash_report"] = str(path) if path else None
        # here, not by the view's `finish`: the bug may be the view's
        document["exit_code"] = int(ExitCode.INTERNAL)
        out.write(encode_json(document, indent=True).decode() + "\n")
        out.flush()
    return ExitCode.INTERNAL


def _write(name: str, body: str, environ: dict[str, str]) -> Optional[Path]:
    for directory in (crash_dir(environ), Path(tempfile.gettempdir())):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(body)
            return path
        except OSError:
            continue
    return None
