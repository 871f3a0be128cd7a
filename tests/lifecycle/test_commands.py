"""init / plan / status / destroy through the real CLI, with small provider processes
(Python scripts without the SDK) that record what they were asked and answer what
each test tells them to."""

from __future__ import annotations

import orjson
import pytest

from tests.workspace import Workspace

PROVIDER = r"""
import json, os, sys, time
if os.environ.get("DSTREAM_DESCRIBE") == "1":  # described without a command (protocol 2)
    print(json.dumps({"status": "ready", "protocol": 1, "features": ["lifecycle"]}))
    sys.exit(0)
cmd = json.loads(sys.stdin.readline())
cfg = cmd["config"]
with open("calls.jsonl", "a") as log:
    log.write(json.dumps([cmd["role"], cmd["command"], cmd.get("destroy", False)]) + "\n")
if cfg.get("legacy"):  # an original-DStream provider: no handshake, straight to data
    while True:
        print(json.dumps({"data": {"n": 1}, "metadata": {}}), flush=True)
        time.sleep(0.05)
if cfg.get("needs_env") and cfg["needs_env"] not in os.environ:
    sys.stderr.write(cfg["needs_env"] + " is not set\n")
    sys.exit(2)
if cfg.get("refuse"):
    print(json.dumps({"status": "error", "message": cfg["refuse"]}), flush=True)
    sys.exit(1)
print(json.dumps({"status": "ready", "features": cfg.get("features", ["lifecycle"])}), flush=True)
if "lifecycle" not in cfg.get("features", ["lifecycle"]):
    sys.stdin.read()
    sys.exit(0)
if cfg.get("hang"):
    time.sleep(120)
result = cfg.get("results", {}).get(cmd["command"], {"status": "Success"})
print(result if isinstance(result, str) else json.dumps(result), flush=True)
sys.stderr.write("provider finished " + cmd["command"] + "\n")
sys.exit(cfg.get("exit", 0))
"""


def setup(ws: Workspace, input_config: str = "", output_config: str = "") -> None:
    ws.python_script("p.py", PROVIDER)
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "./p.py"
            config {{
              {input_config}
            }}
          }}
          output {{
            provider_path = "./p.py"
            config {{
              {output_config}
            }}
          }}
        }}
        """
    )


def calls(ws: Workspace) -> list[list[object]]:
    return [orjson.loads(line) for line in ws.read_text("calls.jsonl").splitlines()]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["init"], [["input", "init", False], ["output", "init", False]]),
        (["plan"], [["input", "plan", False], ["output", "plan", False]]),
        (["status"], [["input", "status", False], ["output", "status", False]]),
        (
            ["destroy", "--auto-approve"],
            [["output", "destroy", False], ["input", "destroy", False]],
        ),
        (["plan", "--destroy"], [["output", "plan", True], ["input", "plan", True]]),
    ],
)
def test_both_providers_are_asked_in_dependency_order(
    ws: Workspace, args: list[str], expected: list[list[object]]
) -> None:
    setup(ws)
    done = ws.run(*args, "t")
    assert done.returncode == 0, done.stderr
    assert calls(ws) == expected


def test_provider_without_lifecycle_is_no_infrastructure(ws: Workspace) -> None:
    setup(ws, input_config="features = []")
    done = ws.run("init", "t")
    assert done.returncode == 0, done.stderr
    assert "input './p.py': no infrastructure" in done.stdout
    code, doc, _ = ws.run_json("init", "t")
    assert code == 0
    input_, output = doc["tasks"][0]["providers"]
    assert (input_["outcome"], input_["lifecycle"]) == ("no-infrastructure", False)
    assert output["outcome"] == "done"


def test_legacy_output_that_streams_fails_at_the_timeout(ws: Workspace) -> None:
    """Read as the original read it, up to a result or its exit: data is no result, and
    one stopped by dstream is never reported as managing nothing."""
    setup(ws, output_config="legacy = true")
    code, doc, err = ws.run_json("status", "t", "--timeout", "2")
    assert code == 1, err
    output = doc["tasks"][0]["providers"][1]
    assert output["outcome"] == "failed"
    assert "did not report a result within 2 s" in output["error"]


@pytest.mark.parametrize("command", ["plan", "init", "status"])
def test_a_timeout_hint_says_to_raise_timeout(ws: Workspace, command: str) -> None:
    """A provider slow but healthy needs more time, not a fix: the hint says how much it
    had and which flag gives it more, for each way a result is waited for (a provider
    that declares "lifecycle", an output read as the original read it)."""
    setup(ws, output_config="hang = true")
    done = ws.run(command, "t", "--timeout", "1")
    assert done.returncode == 1, done.stderr
    assert "did not report a result within 1 s" in done.stderr
    hint = done.stderr.split("did not report a result", 1)[1]
    assert "--timeout" in hint and "1 s" in hint, done.stderr
    setup(ws, output_config="legacy = true")
    code, doc, err = ws.run_json(command, "t", "--timeout", "1.5")
    assert code == 1, err
    output = doc["tasks"][0]["providers"][1]
    assert "did not report a result within 1.5 s" in output["error"], output
    assert "--timeout" in output["hint"] and "1.5 s" in output["hint"], output


@pytest.mark.parametrize(
    ("configs", "args", "expected"),
    [
        pytest.param(
            {
                "output_config": 'results = { status = { status = "Failed", '
                'error = "queue service down" } }'
            },
            ["status", "t"],
            [
                "output './p.py' reported Failed: \"queue service down\"",
                "provider finished status",  # its stderr tail is shown
            ],
            id="failed-result-names-provider-and-quotes-error",
        ),
        pytest.param(
            {
                "output_config": 'results = { init = { status = "Failed", '
                'message = "cannot reach broker", error = "connection refused" } }'
            },
            ["init", "t"],
            ['reported Failed: "connection refused" / "cannot reach broker"'],
            id="failed-result-quotes-error-and-message",
        ),
        pytest.param(
            {"output_config": "exit = 3"},
            ["destroy", "t", "--auto-approve"],
            ["output './p.py' reported Success but exited with code 3"],
            id="success-with-nonzero-exit",
        ),
        pytest.param(
            {"output_config": "hang = true"},
            ["init", "t", "--timeout", "1"],
            ["output './p.py' did not report a result within 1 s"],
            id="timeout-names-the-provider",
        ),
        pytest.param(
            {"input_config": 'results = { status = "all good" }'},
            ["status", "t"],
            ["input './p.py' wrote an invalid result", "all good"],
            id="invalid-result-line",
        ),
        pytest.param(
            {"output_config": 'refuse = "bad credentials for broker"'},
            ["status", "t"],
            ["bad credentials for broker"],
            id="handshake-error-with-its-message",
        ),
    ],
)
def test_provider_failure_exits_1_and_says_why(
    ws: Workspace, configs: dict[str, str], args: list[str], expected: list[str]
) -> None:
    setup(ws, **configs)
    done = ws.run(*args)
    assert done.returncode == 1
    for text in expected:
        assert text in done.stderr


def test_a_provider_error_keeps_its_own_hint(ws: Workspace) -> None:
    """An output that exits before its handshake because a host variable did not reach
    it: the run's hint (inherit_env) is what the user needs in init too, not only the
    command's generic one."""
    setup(ws, output_config='needs_env = "QUEUE_TOKEN"')
    done = ws.run("init", "t", env={"QUEUE_TOKEN": "x"})
    assert done.returncode == 1, done.stderr
    assert "QUEUE_TOKEN is not set" in done.stderr
    assert 'inherit_env = ["NAME"]' in done.stderr
    assert "run `dstream init t` again" in done.stderr  # the command's hint too
    code, doc, _ = ws.run_json("init", "t")
    assert code == 1
    assert "inherit_env" in doc["tasks"][0]["providers"][1]["hint"]


NEEDS_ENV_HINT = (
    "run the provider by hand with its config on stdin to see why; it got only an "
    "allow-listed part of dstream's environment: a variable it reads from the host goes "
    'in its block as inherit_env = ["NAME"] (docs/migrating.md)'
)
INIT_HINT = (
    "fix the cause, then run `dstream init t` again: init is idempotent, what already "
    "exists is kept"
)


def test_a_failed_init_s_block_is_one_record_with_json_logs(ws: Workspace) -> None:
    """The block of a provider that failed `init`: in text as it always was (what, its
    last stderr lines, its hint, the command's); with -f json one error record of the
    task with those as fields, and every other line on stderr a record too."""
    setup(ws, output_config='needs_env = "QUEUE_TOKEN"')
    text = ws.run("init", "t")
    assert text.returncode == 1, text.stderr
    assert text.stderr.endswith(
        "error: task \"t\": output './p.py' exited with code 2 before its handshake\n"
        "  last stderr lines:\n"
        "  | QUEUE_TOKEN is not set\n"
        f"  hint: {NEEDS_ENV_HINT}\n"
        f"  hint: {INIT_HINT}\n"
    ), text.stderr
    done = ws.run("init", "t", "-f", "json")
    assert done.returncode == 1, done.stderr
    records = [orjson.loads(line) for line in done.stderr.splitlines()]
    (error,) = [r for r in records if r["level"] == "error"]
    assert error["task"] == "t", error
    assert error["msg"] == "output './p.py' exited with code 2 before its handshake", error
    assert error["stderr_tail"] == ["QUEUE_TOKEN is not set"], error
    assert error["hint"] == f"{NEEDS_ENV_HINT}; {INIT_HINT}", error


def test_init_stops_at_the_first_failure(ws: Workspace) -> None:
    setup(ws, input_config='results = { init = { status = "Failed", message = "no slot" } }')
    code, doc, _ = ws.run_json("init", "t")
    assert code == 1
    assert calls(ws) == [["input", "init", False]]  # the output was not asked
    task = doc["tasks"][0]
    assert [p["outcome"] for p in task["providers"]] == ["failed", "skipped"]
    assert task["providers"][1]["lifecycle"] is None  # not asked: not known
    assert doc["ok"] is False and task["ok"] is False
    assert doc["errors"] == ["input './p.py' reported Failed: \"no slot\""]


def test_plan_asks_both_even_when_one_fails(ws: Workspace) -> None:
    setup(ws, input_config='results = { plan = { status = "Failed", error = "x" } }')
    done = ws.run("plan", "t")
    assert done.returncode == 1
    assert calls(ws) == [["input", "plan", False], ["output", "plan", False]]


PLAN_RESULT = """results = { plan = {
  status = "Success"
  changes = [
    { action = "create", type = "queue", name = "a_cdc_events", reason = "queue of table a" },
    { action = "update", type = "queue", name = "b_cdc_events", reason = "ttl 1d -> 2d" },
    { action = "delete", type = "queue", name = "old_cdc_events", reason = "holds 3 message(s)" },
  ]
} }"""


def test_plan_renders_like_terraform(ws: Workspace) -> None:
    setup(ws, output_config=PLAN_RESULT)
    done = ws.run("plan", "t")
    assert done.returncode == 0, done.stderr
    assert "    + queue.a_cdc_events  (queue of table a)" in done.stdout
    assert "    ~ queue.b_cdc_events  (ttl 1d -> 2d)" in done.stdout
    assert "    - queue.old_cdc_events  (holds 3 message(s))" in done.stdout
    assert "Plan: 1 to create, 1 to change, 1 to destroy." in done.stdout


def test_plan_without_changes_says_so(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("plan", "t")
    assert "No changes. The infrastructure matches the configuration." in done.stdout


def test_status_table_and_json(ws: Workspace) -> None:
    status = (
        'results = { status = { status = "Success", resources = ['
        '{ type = "queue", name = "a_cdc_events", exists = true, details = { messages = 42 } },'
        '{ type = "queue", name = "b_cdc_events", exists = false, details = {} } ] } }'
    )
    setup(ws, output_config=status, input_config="features = []")
    done = ws.run("status", "t")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["input", "(no", "infrastructure)", "-", "./p.py"] in rows
    assert ["output", "queue.a_cdc_events", "yes", "messages=42"] in rows
    assert ["output", "queue.b_cdc_events", "no"] in rows
    assert "1 resource(s) missing: run `dstream init t`." in done.stdout
    code, doc, _ = ws.run_json("status", "t")
    assert code == 0
    assert doc["command"] == "status" and doc["ok"] is True
    resources = doc["tasks"][0]["providers"][1]["resources"]
    assert [(r["name"], r["exists"]) for r in resources] == [
        ("a_cdc_events", True),
        ("b_cdc_events", False),
    ]


UNUSABLE = (
    '{ type = "replication_slot", name = "s1", exists = true, usable = false, '
    'problem = "slot s1 was invalidated", hint = "drop it and make it anew", details = {} }'
)


def test_a_resource_that_exists_but_cannot_be_used_fails_status(ws: Workspace) -> None:
    """A slot the server invalidated exists but no run can use it: status said "yes" and
    "All resources exist." and exited 0, so a health check in CI was told all was well.
    Now it is "unusable" in the table, an error with the provider's reason and fix, a
    true summary and exit 1; --json the same. A plan that lists it (what it replaces)
    is not failed by it."""
    results = f'results = {{ status = {{ status = "Success", resources = [{UNUSABLE}] }} }}'
    setup(ws, input_config=results)
    done = ws.run("status", "t")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    assert ["input", "replication_slot.s1", "unusable"] in rows, done.stdout
    assert "1 resource(s) exist but cannot be used (see the error below)." in done.stdout
    assert "All resources exist" not in done.stdout and "✅" not in done.stdout
    assert (
        "error: task \"t\": input './p.py': replication_slot.s1 exists but cannot be used: "
        "slot s1 was invalidated\n  hint: drop it and make it anew\n"
    ) in done.stderr, done.stderr
    code, doc, _ = ws.run_json("status", "t")
    assert code == 1 and doc["ok"] is False and doc["exit_code"] == 1, doc
    assert doc["tasks"][0]["ok"] is False
    assert doc["errors"] == [
        "input './p.py': replication_slot.s1 exists but cannot be used: slot s1 was invalidated"
    ]
    (slot,) = doc["tasks"][0]["providers"][0]["resources"]
    assert (slot["exists"], slot["usable"]) == (True, False), slot
    assert slot["hint"] == "drop it and make it anew"
    setup(ws, input_config=results.replace("status = {", "plan = {", 1))
    assert ws.run("plan", "t").returncode == 0


def test_a_status_in_the_originals_shape_claims_no_existence(ws: Workspace) -> None:
    """The original's resources are plain names: it says nothing of whether each exists,
    so the table says "?" (it said yes) and the summary counts what was reported."""
    setup(ws, output_config='results = { status = { status = "Success", resources = ["q1"] } }')
    done = ws.run("status", "t")
    assert done.returncode == 0, done.stderr
    row = next(line.split() for line in done.stdout.splitlines() if "q1" in line)
    assert row == ["output", "q1", "?"]  # as written
    assert "1 resource(s) reported" in done.stdout


def test_unknown_task_changes_nothing(ws: Workspace) -> None:
    setup(ws)
    done = ws.run("init", "t", "nope")
    assert done.returncode == 2
    assert "no task named 'nope'" in done.stderr
    assert calls(ws) == []


def test_a_providers_words_cannot_move_the_cursor(ws: Workspace) -> None:
    """A lifecycle answer's names, reasons, messages and details are shown with their
    control characters as escapes, as its stderr is (errors.visible): an escape sequence
    in a change's name cleared the screen or printed over dstream's own lines."""
    esc = "\\u001b[2J"
    setup(
        ws,
        output_config=f"""results = {{
          plan = {{
            status = "Success"
            message = "msg{esc}"
            changes = [{{ action = "create", type = "queue", name = "q{esc}", reason = "r{esc}" }}]
          }}
          status = {{
            status = "Success"
            resources = [{{
              type = "queue", name = "q{esc}", exists = true, details = {{ d = "v{esc}" }}
            }}]
          }}
        }}""",
    )
    for command in ("plan", "status"):
        done = ws.run(command, "t")
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout, done.stdout
        assert "\\x1b[2J" in done.stdout, done.stdout


def test_status_shows_a_checkpoint_nested_deeper_than_json_encoders_go(ws: Workspace) -> None:
    """`state set` keeps a checkpoint nested 300 deep (it is opaque bytes); status shows
    the stored bytes as `state show` does, never decoding and encoding them again."""
    setup(ws, input_config="features = []", output_config="features = []")
    deep = "[" * 300 + "]" * 300
    env = {"XDG_STATE_HOME": str(ws.root / "xdg")}
    assert ws.run("state", "set", "t", "-", input=deep.encode(), env=env).returncode == 0
    done = ws.run("status", "t", env=env)
    assert done.returncode == 0, done.stderr
    assert f"checkpoint: {deep[:40]}" in done.stdout
    done = ws.run("status", "t", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert b'"checkpoint": ' + deep.encode() in done.stdout_bytes  # verbatim


def test_status_pads_its_table_by_what_it_shows_not_by_a_secrets_length(ws: Workspace) -> None:
    """A secret in a resource's name is masked in the table: the columns were padded by
    its unmasked length, which the padding then told (and the table went out of line)."""
    secret = "Hunter2-a-long-secret-value"
    resource = f'{{ type = "queue", name = "q-{secret}", exists = true }}'
    results = f'results = {{ status = {{ status = "Success", resources = [{resource}] }} }}'
    setup(ws, output_config=f'password = "{secret}"\n{results}')
    done = ws.run("status", "t")
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout
    lines = done.stdout.splitlines()
    header = next(line for line in lines if "RESOURCE" in line)
    row = next(line for line in lines if "queue.q-" in line)
    assert row.index("yes") == header.index("EXISTS"), done.stdout


def test_an_unusable_resources_structured_problem_is_shown_as_json(ws: Workspace) -> None:
    """A provider's problem or hint that is not text is shown as JSON, as a log record's
    message is, not as Python writes it ({'why': ...})."""
    resource = (
        '{ type = "queue", name = "q", exists = true, usable = false, '
        'problem = { why = "gone", n = 1 }, hint = ["x", "y"] }'
    )
    results = f'results = {{ status = {{ status = "Success", resources = [{resource}] }} }}'
    setup(ws, output_config=results)
    done = ws.run("status", "t")
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'queue.q exists but cannot be used: {"why":"gone","n":1}\n' in done.stderr, done.stderr
    assert '  hint: ["x","y"]\n' in done.stderr, done.stderr


def test_a_result_line_longer_than_max_frame_size_fails_the_command(ws: Workspace) -> None:
    """The task's max_frame_size bounds every line dstream reads from a provider's
    stdout (docs/protocol.md, section 3), a lifecycle result's too: it was read up to
    the 16 MiB default whatever the task set."""
    ws.python_script("p.py", PROVIDER)
    ws.config(
        """
        locals {
          long = join("", [for i in range(600) : "xx"])
        }
        task "t" {
          max_frame_size = "1KiB"
          input { provider_path = "dstream-counter" }
          output {
            provider_path = "./p.py"
            config {
              results = { init = { status = "Success", message = local.long } }
            }
          }
        }
        """
    )
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "wrote a line longer than 1024 bytes" in done.stdout + done.stderr, done.stdout


def test_init_refresh_without_pull_is_a_usage_error(ws: Workspace) -> None:
    """--refresh resolves again the tags --pull pulls: alone it did nothing, silently."""
    setup(ws)
    done = ws.run("init", "t", "--refresh")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: argument --refresh: "), done.stderr
    assert "--pull" in done.stderr and "\n  hint: " in done.stderr, done.stderr
    code, doc, _ = ws.run_json("init", "t", "--refresh=true")
    assert code == 2 and doc["error"] == "UsageError" and doc["exit_code"] == 2, doc
    assert "--pull" in doc["message"] and doc["hint"], doc
    assert not (ws.root / "calls.jsonl").exists()  # no provider was asked


# An output that answers, then exits at once, leaving behind in its process group a
# process that holds its stdout open and would write on it a minute later.
LEFTOVER_OUTPUT = """
read -r command
echo '{handshake}'
echo '{result}'
(sleep 60; echo leftover woke up) &
exit 0
"""


@pytest.mark.parametrize(
    ("handshake", "result"),
    [
        (
            '{"status":"ready","protocol":1,"features":["lifecycle"]}',
            '{"status":"Success","resources":[{"type":"queue","name":"q","exists":true}]}',
        ),
        ('{"status":"ready"}', '{"status":"Success","resources":["q"]}'),  # the original's
    ],
)
def test_an_exited_outputs_leftover_holding_its_stdout_is_killed_at_once(
    ws: Workspace, handshake: str, result: str
) -> None:
    """docs/lifecycle.md: once the output has exited, its process group is killed with a
    warning and what it wrote is read, as `run` does (docs/delivery.md, "Process
    tree"). Its stdout was read to EOF, which the leftover held off for the rest of
    --timeout (300 s by default; here until it wrote its line and exited)."""
    ws.script("out.sh", LEFTOVER_OUTPUT.format(handshake=handshake, result=result))
    ws.config(
        """
        task "t" {
          input { provider_path = "dstream-counter" }
          output { provider_path = "./out.sh" }
        }
        """
    )
    code, doc, err = ws.run_json("status", "t")
    assert code == 0, err
    held = "output './out.sh' exited, but something it started still holds its stdout open"
    assert held in err
    assert "leftover woke up" not in err  # killed, not waited for
    output = doc["tasks"][0]["providers"][1]
    assert (output["outcome"], len(output["resources"])) == ("done", 1)  # what it wrote


@pytest.mark.parametrize(
    "handshake", ['{"status":"ready","protocol":1,"features":["lifecycle"]}', '{"status":"ready"}']
)
def test_an_output_that_exits_before_its_result_is_not_waited_for_past_its_exit(
    ws: Workspace, handshake: str
) -> None:
    """An output that fails before its result, leaving a leftover holding its stdout: it
    fails the command at once as having exited without a result (process group killed,
    with the warning), not as one that "did not report a result" at --timeout."""
    body = LEFTOVER_OUTPUT.format(handshake=handshake, result="").replace("exit 0", "exit 3")
    ws.script("out.sh", body.replace("echo ''\n", ""))
    ws.config(
        """
        task "t" {
          input { provider_path = "dstream-counter" }
          output { provider_path = "./out.sh" }
        }
        """
    )
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stderr
    assert "output './out.sh' exited with code 3 without writing a result" in done.stderr
    held = "output './out.sh' exited, but something it started still holds its stdout open"
    assert held in done.stderr
    assert "leftover woke up" not in done.stderr  # killed, not waited for
