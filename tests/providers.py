"""Providers written without the SDK, shared by the test areas."""

# An output that answers nothing and echoes every line it reads, like `cat`: its echo of
# a checkpoint frame is the acknowledgement.
ECHO_OUTPUT = "#!/bin/sh\nread -r command\nexec cat\n"

# An output in plain sh: handshake, keep data lines in $OUT (default out.jsonl), echo
# each checkpoint once the lines before it are written. (mawk would buffer its input
# and acknowledge late, so the shell reads line by line.)
SHELL_OUTPUT = r"""#!/bin/sh
read -r command
echo '{"status":"ready","protocol":1}'
exec 3>>"${OUT:-out.jsonl}"
while IFS= read -r line; do
  case "$line" in
    '{"checkpoint"'*) printf '%s\n' "$line" ;;
    *) printf '%s\n' "$line" >&3 ;;
  esac
done
"""

# An output in Python without the SDK: handshake, then acknowledge every checkpoint at
# once (data lines are dropped); exits at the end of its stdin.
ACK_OUTPUT = r"""
import sys
sys.stdin.buffer.readline()
print('{"status":"ready","protocol":1}', flush=True)
for line in sys.stdin.buffer:
    if line.startswith(b'{"checkpoint"'):
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
"""

# Any side of a task, in Python without the SDK: answers a describe probe (protocol
# section 2) with a bare ready line and nothing else; started with a command, it first
# appends its role and command to `started`, so a test sees whether dstream started it.
MARKER_PROVIDER = r"""
import json, os, sys
if os.environ.get("DSTREAM_DESCRIBE") == "1":
    print('{"status":"ready","protocol":1}')
    sys.exit(0)
command = json.loads(sys.stdin.readline() or "{}").get("command", "run")
with open("started", "a") as marker:
    marker.write(os.environ.get("DSTREAM_ROLE", "?") + " " + command + "\n")
print('{"status":"ready","protocol":1}', flush=True)
for line in sys.stdin:
    pass
"""

# An input written with the SDK (dstream.sdk): typed config (`count`, `label`), and a
# `status` hook, so it declares "lifecycle". Started for a command (not for a describe
# probe) it appends "input started" to `started`, and "input <command>" once its
# config is bound.
SDK_INPUT = r"""
import os
from dataclasses import dataclass
from dstream.sdk import Envelope, InputProvider, LifecycleResult, ProviderConfig, run_provider

@dataclass
class Config(ProviderConfig):
    count: int = 3
    label: str = "n"

if os.environ.get("DSTREAM_DESCRIBE") != "1":
    with open("started", "a") as marker:
        marker.write("input started\n")

class Numbers(InputProvider[Config]):
    config_class = Config

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with open("started", "a") as marker:
            marker.write("input " + self.command + "\n")

    async def read(self):
        for n in range(self.config.count):
            yield Envelope({self.config.label: n})

    async def status(self):
        return LifecycleResult(status="Success", resources=[{"type": "numbers", "name": "n"}])

run_provider(Numbers)
"""

# An input in plain sh: handshake, then $COUNT (default 5) data envelopes tagged $TAG.
SHELL_COUNTING_INPUT = """#!/bin/sh
# A provider in the wire contract: handshake, then N data envelopes.
read -r command
echo '{"status":"ready","protocol":1}'
i=1
while [ $i -le ${COUNT:-5} ]; do
  printf '{"data":{"n":%d,"from":"%s"},"metadata":{"TableName":"t"}}\\n' $i "${TAG:-x}"
  i=$((i + 1))
done
"""

# The failing task of a --fail-fast test, task "bad": its input ./fails.sh (`fails_once`)
# into dstream-null.
FAILING_TASK = """
task "bad" {
  input  { provider_path = "./fails.sh" }
  output { provider_path = "dstream-null" }
}
"""


def fails_once(streaming: str) -> str:
    """An input in plain sh: handshake, then it fails ("boom" on stderr, exit 3) once
    the file `streaming` (another task's output) is not empty, so that task is running
    when --fail-fast stops it (it fails anyway after 30 s)."""
    return f"""#!/bin/sh
read -r command
echo '{{"status":"ready","protocol":1}}'
i=0
while [ ! -s {streaming} ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
echo "boom" >&2
exit 3
"""


def ticking_input(stopping: str = "") -> str:
    """An input in Python: an envelope and a checkpoint ({"seq": i}) every 20 ms for
    ever; on SIGTERM it creates the file `stopping` if named (so a test sees the signal
    reach it) and exits 0."""
    mark = f"open({stopping!r}, 'w').close()" if stopping else "pass"
    return f"""
import signal, sys, time
def stop(*_):
    {mark}
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
sys.stdin.buffer.readline()
print('{{"status":"ready","protocol":1}}', flush=True)
i = 0
while True:
    i += 1
    print('{{"data":%d,"metadata":{{}}}}' % i, flush=True)
    print('{{"checkpoint":{{"seq":%d}}}}' % i, flush=True)
    time.sleep(0.02)
"""
