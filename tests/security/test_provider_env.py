"""The environment a provider starts with (docs/security.md, "The provider
environment"): the allowlist, the protocol variables, the task's `env` map and the
names its `inherit_env` lists; never dstream's own credentials."""

from __future__ import annotations

import json
from pathlib import Path

from tests.containers import Podman
from tests.security.test_secret_canary import DOCUMENTED
from tests.workspace import Workspace

DUMP_ENV = r"""
import json, os, sys
if os.environ.get("DSTREAM_DESCRIBE") == "1":  # described without a command (protocol 2)
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
cmd = json.loads(sys.stdin.readline())
with open(cmd["config"]["dump"], "w") as out:
    json.dump(dict(os.environ), out)
print(json.dumps({"status": "ready", "features": ["lifecycle"]}), flush=True)
print(json.dumps({"status": "Success"}), flush=True)
"""

CREDENTIALS = {
    "DSTREAM_VAR_pw": "var-secret-1",
    "DSTREAM_REGISTRY_USERNAME": "robot",
    "DSTREAM_REGISTRY_PASSWORD": "registry-secret-2",
    "GITHUB_TOKEN": "github-secret-3",
    "DOCKER_AUTH_CONFIG": '{"auths": {"x": {"auth": "docker-secret-4"}}}',
    "AWS_SECRET_ACCESS_KEY": "aws-secret-5",
}
PASSED = {
    "TZ": "Europe/Paris",
    "HTTPS_PROXY": "http://proxy.example:3128",
    "no_proxy": "localhost",
    "LC_TIME": "C",
    "LANG": "C.UTF-8",
}


def input_task(ws: Workspace, provider_path: str, input_body: str) -> None:
    """A sensitive variable and task "t": `provider_path` with `input_body` as its input,
    into dstream-null."""
    ws.config(
        f"""
        variable "pw" {{
          sensitive = true
        }}
        task "t" {{
          input {{
            provider_path = "{provider_path}"
            {input_body}
          }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )


def test_a_provider_gets_the_allowlist_the_task_env_and_inherit_env_only(
    ws: Workspace, tmp_path: Path
) -> None:
    dump = tmp_path / "env.json"
    ws.python_script("p.py", DUMP_ENV)
    input_task(
        ws,
        "./p.py",
        f"""env         = {{ FROM_TASK = "1" }}
            inherit_env = ["PGPASSWORD", "NOT_SET_ANYWHERE"]
            config {{ dump = "{dump}" }}""",
    )
    env = {**CREDENTIALS, **PASSED, "PGPASSWORD": "pg-needed", "UNLISTED_NAME": "x"}
    done = ws.run("status", "t", env=env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(dump.read_text())
    for name in CREDENTIALS:
        assert name not in seen, name
    assert "UNLISTED_NAME" not in seen
    for name, value in PASSED.items():
        assert seen[name] == value
    assert seen["PGPASSWORD"] == "pg-needed" and "NOT_SET_ANYWHERE" not in seen
    assert seen["FROM_TASK"] == "1"
    assert (seen["DSTREAM_PROTOCOL"], seen["DSTREAM_ROLE"], seen["DSTREAM_TASK"]) == (
        "1",
        "input",
        "t",
    )
    allowed = DOCUMENTED | {"FROM_TASK", "PGPASSWORD"}
    assert {k for k in seen if k not in allowed and not k.startswith("LC_")} == set()


def test_inherit_env_cannot_name_dstreams_own_credentials(ws: Workspace) -> None:
    ws.config(
        """
        task "t" {
          input {
            provider_path = "dstream-counter"
            inherit_env   = ["PGUSER", "DSTREAM_VAR_pw", "GITHUB_TOKEN"]
          }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("lint")
    assert done.returncode == 2
    assert "dstream.hcl:5:" in done.stderr
    assert "DSTREAM_VAR_pw" in done.stderr and "GITHUB_TOKEN" in done.stderr


ENV_DUMPER = """#!/bin/sh
read -r command
export -p >&2
exit 3
"""


def test_a_container_provider_gets_no_credentials(ws: Workspace, podman: Podman) -> None:
    image = podman.build(
        "localhost/dstream-test-envdump:1", {"provider": ENV_DUMPER}, ["/provider"]
    )
    ws.config(
        f"""
        task "boxed" {{
          input  {{
            provider_image = "{image}"
            env            = {{ FROM_TASK = "1" }}
          }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    ws.env.update({**CREDENTIALS, **PASSED, "DOCKER_HOST": podman.docker_host})
    code, doc, stderr = ws.run_json("run", "boxed")
    assert code == 1, stderr
    tail = "\n".join(doc["tasks"][0]["error"]["stderr_tail"]) + stderr
    assert "FROM_TASK" in tail and "DSTREAM_TASK" in tail  # the dump is there
    for name, value in CREDENTIALS.items():
        assert name not in tail and value not in tail, name
    assert "HTTPS_PROXY" in tail and "Europe/Paris" in tail


# Answers only the describe probe (protocol 2): writes its environment as `env` prints
# it to the file $DUMP names, then its ready line. The probe's stdin is /dev/null.
PROBE_DUMPER = """
if [ "$DSTREAM_DESCRIBE" = 1 ]; then
  env > "$DUMP"
  echo '{"status":"ready","protocol":1,"features":[]}'
  exit 0
fi
exit 3
"""


def test_the_describe_probe_gets_the_allowlist_only(ws: Workspace, tmp_path: Path) -> None:
    """`lint` probes a provider it does not know (runtime/describe.py): that start is
    given the same minimal environment as a run's, never dstream's credentials."""
    dump = tmp_path / "probe-env.txt"
    ws.script("p.sh", PROBE_DUMPER)
    input_task(ws, "./p.sh", f'env = {{ DUMP = "{dump}" }}')
    done = ws.run("lint", env={**CREDENTIALS, **PASSED, "UNLISTED_NAME": "x"})
    assert done.returncode == 0, done.stderr
    text = dump.read_text()  # it was probed
    seen = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert seen["DSTREAM_DESCRIBE"] == "1"
    for name, value in CREDENTIALS.items():
        assert name not in seen and value not in text, name
    assert "UNLISTED_NAME" not in seen
    for name, value in PASSED.items():
        assert seen[name] == value
    # `env` of /bin/sh adds PWD (the shell's own) and SHLVL, `_`; the probe adds DESCRIBE.
    allowed = DOCUMENTED | {"DUMP", "DSTREAM_DESCRIBE", "PWD", "SHLVL", "_"}
    assert {k for k in seen if k not in allowed and not k.startswith("LC_")} == set()
