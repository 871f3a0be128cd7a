"""The `dstream` console script: the command line with the garbage collector paused
while it starts.

A start imports ~140 modules and builds the configuration: hundreds of thousands of
objects, none of them garbage, which made the collector run ~20 times before the first
envelope of a `dstream run` (~3 M instructions, ~2 % of its start; issue 22). The
command turns it back on (`resume_collector`) before its own work: `dstream run` once its
providers are about to start (its module sets RESUMES_COLLECTOR), every other command
before it executes (cli/app.py). Only this entry pauses it: code that calls
`cli.app.main` itself keeps its collector as it was.

What the start made lives as long as the process, so it is frozen (`gc.freeze`) as the
collector resumes: the first collection would otherwise go through all of it, ~1.3 ms
before a run's providers start. A cycle the start left behind is kept, not collected:
~200 objects in a one-task run.
"""

from __future__ import annotations

import gc
import sys

_paused = False
INTERRUPTED = 130  # errors.ExitCode.INTERRUPTED's twin: errors is not imported yet (tested)


def run() -> None:
    global _paused
    gc.disable()
    _paused = True
    from dstream import warm

    try:
        warm.launch(sys.argv[1:])  # before any other import: dstream/warm says why
    except OSError:  # a provider it could not start: the run starts it and says why
        warm.abandon()
    except KeyboardInterrupt:  # Ctrl-C in its first milliseconds: nothing was delivered
        warm.abandon()
        sys.exit(INTERRUPTED)
    except Exception as exc:  # a bug in it: the run starts as always, and says so
        warm.abandon()
        warm.failure = exc
    from dstream.cli.app import run as run_command

    run_command()


def resume_collector() -> None:
    """Turn the collector back on if this entry paused it, the start's objects frozen."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
