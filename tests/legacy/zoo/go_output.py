#!/usr/bin/env python3
"""A hand-written Go output of the original's time (like `dstream-out-asb`, whose
source is not retrievable), written the way its author's Go ingester is
(shared/ORIGINAL.md section 6): its logger writes INFO lines, coloured, to stdout.

Test double: no Go toolchain runs here. Reads its command line (snake_case config keys),
writes `{"status":"ready"}` unless `handshake = false` (a provider older than the
handshake), then for init/plan/status/destroy:
- `log_lines` Go-logger INFO lines on stdout, then `work_seconds` of work, after which
  `done.txt` (beside the configuration) gets the command appended: the work was done;
- one InfrastructureResult line, resources `queues`, keys `camel` (encoding/json with
  tags) or `pascal` (`keys = "pascal"`: Go without tags, or System.Text.Json's
  defaults); `status` as given in `status` (default Success);
- `linger_seconds`: seconds it goes on after its result before it exits 0 (a provider
  that still closes connections or flushes a log);
- `exit_code`: instead of a result, `[ERROR] Fatal error: ...` on stderr and this exit
  code; `abort = true`: the same, then killed by SIGABRT (a runtime's abort).
With `READ_ALL=1` in its environment it reads stdin to EOF before anything (Go's
io.ReadAll, as the ingester does), so it answers only once its stdin is closed.
"""

import json
import os
import resource
import signal
import sys
import time

GREEN, RESET = "\x1b[32m", "\x1b[0m"


def main() -> int:
    if os.environ.get("READ_ALL") == "1":
        line = (sys.stdin.read().splitlines() or [""])[0]
    else:
        line = sys.stdin.readline()
    if not line.strip():
        return 1
    envelope = json.loads(line)
    config = envelope.get("config") or {}
    command = str(envelope.get("command") or "run")
    if config.get("handshake", True):
        print('{"status":"ready"}', flush=True)
    if command == "run":
        sys.stdin.read()
        return 0
    for i in range(int(config.get("log_lines", 0))):
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        print(f"{GREEN}{stamp} [INFO] {command}: step {i + 1}{RESET}", flush=True)
    time.sleep(float(config.get("work_seconds", 0)))
    if "exit_code" in config or config.get("abort"):
        sys.stderr.write("[ERROR] Fatal error: Azure.RequestFailedException: Unauthorized\n")
        sys.stderr.flush()
        if config.get("abort"):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # no core file left behind
            os.kill(os.getpid(), signal.SIGABRT)
        return int(config.get("exit_code", 1))
    with open("done.txt", "a") as done:
        done.write(command + "\n")
    doc = {
        "status": config.get("status", "Success"),
        "resources": list(config.get("queues", [])),
        "metadata": None,
        "message": f"{command} done",
        "error": config.get("error"),
    }
    if config.get("keys") == "pascal":
        doc = {key.capitalize(): value for key, value in doc.items()}
    print(json.dumps(doc), flush=True)
    time.sleep(float(config.get("linger_seconds", 0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
