#!/usr/bin/env python3
"""A provider written from docs/protocol.md alone: standard library only, no dstream SDK.

With FLAW unset it keeps every promise of the contract, so the conformance suite must
pass it on every check; FLAW=<name> breaks exactly one promise, so the suite must fail
the matching check (tests/kit/test_conformance.py). RAW_ROLE picks input or output (not
DSTREAM_ROLE: the suite's legacy check removes the DSTREAM_* variables); RAW_STATE is a
directory standing in for the infrastructure its lifecycle commands manage; RAW_SEEN, a
file each start appends its config to (one JSON line).

config: {"count": N (input: frames to write, 0 = endless), "interval_ms": M}
"""

import json
import os
import signal
import sys
import time

FLAW = os.environ.get("FLAW", "")
ROLE = os.environ.get("RAW_ROLE", "input")
KNOWN_KEYS = {"count", "interval_ms"}
out = sys.stdout.buffer
stopping = False


def log(msg):
    sys.stderr.write(json.dumps({"level": "info", "msg": msg}) + "\n")
    sys.stderr.flush()


def emit(obj):
    write_line(json.dumps(obj).encode())


def write_line(raw):
    out.write(raw + b"\n")
    out.flush()


def ready(features):
    line = {"status": "ready", "protocol": 1, "features": features}
    if FLAW == "handshake-features-not-a-list":
        line["features"] = ",".join(features)
    if FLAW == "handshake-protocol-as-text":
        line["protocol"] = "1"
    if FLAW == "handshake-protocol-null":
        line["protocol"] = None
    emit(line)


def refuse(message, code=2):
    emit({"status": "error", "message": message})
    log(message)
    sys.exit(code)


def on_sigterm(signum, frame):
    global stopping
    stopping = True
    if ROLE == "output":
        raise KeyboardInterrupt  # leave the blocking stdin read


def lifecycle(command):
    marker = os.path.join(os.environ.get("RAW_STATE", "."), "queue")
    exists = os.path.exists(marker)
    result = {"status": "Success", "resources": [], "changes": [], "metadata": {}}
    resource = {"type": "queue", "name": "raw", "exists": exists, "details": {}}
    if command == "init":
        if not exists or FLAW == "init-not-idempotent":
            open(marker, "w").close()
            result["changes"].append({"action": "create", "type": "queue", "name": "raw"})
    elif command == "destroy":
        if exists:
            os.remove(marker)
            result["changes"].append({"action": "delete", "type": "queue", "name": "raw"})
        elif FLAW == "destroy-fails-when-gone":
            result.update(status="Failed", error="queue raw does not exist")
    elif command == "plan" and not exists:
        result["changes"].append({"action": "create", "type": "queue", "name": "raw"})
    result["resources"].append(resource)
    if FLAW == "lifecycle-bad-shape":
        result["resources"] = {"raw": True}
    if FLAW == "lifecycle-result-a-string":
        result = "done"
    emit(result)
    sys.exit(1 if isinstance(result, dict) and result["status"] == "Failed" else 0)


def commit_notice():
    """One line of the commit-notice channel (DSTREAM_COMMIT_FD), or None without it."""
    fd = os.environ.get("DSTREAM_COMMIT_FD")
    if not fd:
        return None
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(int(fd), 1)
        if not chunk:
            break
        line += chunk
    return line or None


def run_input(config, features):
    signal.signal(signal.SIGTERM, signal.SIG_IGN if FLAW == "ignore-sigterm" else on_sigterm)
    if FLAW == "die-on-sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    ready(features)
    count, pause = config.get("count", 0), config.get("interval_ms", 10) / 1000
    n = 0
    while not stopping and (count == 0 or n < count):
        n += 1
        if FLAW == "bad-frame" and n == 3:
            out.write(b"[1, 2, 3]\n")
        elif FLAW == "metadata-not-an-object" and n == 3:
            emit({"data": {"n": n}, "metadata": ["raw", n]})
        else:
            emit({"data": {"n": n}, "metadata": {"TableName": "raw", "seq": n}})
        if n == 7 and FLAW == "crash-mid-stream":
            sys.stderr.write(json.dumps({"level": "error", "msg": "source lost"}) + "\n")
            sys.exit(3)
        if n == 7 and FLAW == "killed-mid-stream":
            out.write(b'{"data":{"n":')  # torn: it dies in the middle of a frame
            out.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if n % 5 == 0 and FLAW != "no-checkpoints":
            emit({"checkpoint": {"seq": n}})
            if "commit-notices" in features:
                notice = commit_notice() if FLAW == "crash-on-commit" else None
                if notice:
                    log("cannot handle " + notice.decode().strip())
                    sys.exit(3)
        time.sleep(pause)
    sys.exit(1 if FLAW == "exit-1-at-end" else 0)


def run_output(features):
    signal.signal(signal.SIGTERM, on_sigterm)
    ready(features)
    if FLAW == "exit-at-once":
        sys.exit(0)  # reads nothing
    held, received = [], 0
    try:
        for raw in sys.stdin.buffer:
            if not raw.strip():
                continue
            frame = json.loads(raw)
            if "checkpoint" in frame and "data" not in frame:
                # The acknowledgement is the line as received: dstream compares its
                # bytes with what it sent (re-encoded, 5000.0 would come back as 5000).
                ack = raw.rstrip(b"\r\n")
                if FLAW == "ack-unknown":
                    ack = b'{"checkpoint":{"invented":true}}'
                if FLAW in ("ack-reversed", "ack-at-eof-only", "no-final-ack"):
                    held.append(ack)
                else:
                    write_line(ack)  # nothing is buffered here: written means durable
            else:
                received += 1
                if FLAW == "crash-mid-run" and received == 12:
                    # As an SDK output does: the error, then a closing line of its own.
                    sys.stderr.write(
                        json.dumps(
                            {
                                "level": "error",
                                "msg": "write() failed",
                                "error": "RuntimeError: boom",
                            }
                        )
                        + "\n"
                    )
                    log(f"received {received} envelopes")
                    sys.exit(1)
    except KeyboardInterrupt:
        pass
    if FLAW == "ack-reversed":
        held.reverse()
    if FLAW == "no-final-ack":
        held = held[:-1]
    for ack in held:
        write_line(ack)
    log(f"received {received} envelopes")
    sys.exit(1 if FLAW == "exit-1-at-eof" else 0)


def main():
    line = sys.stdin.buffer.readline()
    try:
        command = json.loads(line)
        if not isinstance(command, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        if FLAW == "silent-bad-command-line":
            sys.exit(1)
        refuse(f"raw: the command line is not a JSON object: {exc}")
    if "command" not in command and "config" not in command:
        if FLAW == "needs-command":
            refuse("raw: no command in the command line")
        command = {"command": "run", "config": command}  # the original DStream's style
    config = command.get("config") or {}
    if os.environ.get("RAW_SEEN"):
        with open(os.environ["RAW_SEEN"], "a") as seen:
            seen.write(json.dumps(config) + "\n")
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown and FLAW != "accepts-unknown-key":
        refuse(f"raw: unknown config key(s) {', '.join(unknown)}; known: count, interval_ms")
    features = ["lifecycle", "checkpoints"]
    if ROLE == "input":
        features.append("commit-notices")
    if command.get("command", "run") != "run":
        ready(features)
        lifecycle(command["command"])
    if ROLE == "input":
        run_input(config, features)
    else:
        run_output(features)


if __name__ == "__main__":
    main()
