"""init / plan / status / destroy with the legacy zoo: the original asked only the
output provider and printed its InfrastructureResult (resources as plain strings)."""

from __future__ import annotations

from tests.legacy import MSSQL_TO_ASB, OCI_COUNTER_DEMO, zoo
from tests.workspace import Workspace

QUEUES = ["localhost-testdb-cars", "localhost-testdb-persons"]


def output_of(doc: dict) -> dict:
    providers = doc["tasks"][0]["providers"]
    return next(p for p in providers if p["role"] == "output")


def input_of(doc: dict) -> dict:
    providers = doc["tasks"][0]["providers"]
    return next(p for p in providers if p["role"] == "input")


def test_service_bus_queues_init_status_destroy(ws: Workspace) -> None:
    ws.config(MSSQL_TO_ASB)
    code, doc, err = ws.run_json("plan", "mssql-to-asb")
    assert code == 0, err
    assert output_of(doc)["resources"] == [f"{q}:WILL_CREATE" for q in QUEUES]
    assert input_of(doc)["outcome"] == "no-infrastructure"

    done = ws.run("init", "mssql-to-asb")
    assert done.returncode == 0, done.stderr
    assert "localhost-testdb-cars" in done.stdout
    assert sorted(p.name for p in (ws.root / "asb").iterdir()) == [f"{q}.jsonl" for q in QUEUES]

    code, doc, err = ws.run_json("status", "mssql-to-asb")
    assert code == 0, err
    assert output_of(doc)["resources"] == QUEUES
    assert output_of(doc)["metadata"] == {
        "namespace": "sb-dstream-dev",
        "resourceGroup": "rg-dstream-dev",
    }
    done = ws.run("status", "mssql-to-asb")  # the table view of string resources
    assert done.returncode == 0, done.stderr
    assert "localhost-testdb-persons" in done.stdout
    assert "Traceback" not in done.stderr

    done = ws.run("destroy", "mssql-to-asb", "--auto-approve")
    assert done.returncode == 0, done.stderr
    assert "nothing changed" not in done.stdout.lower(), done.stdout
    assert "localhost-testdb-persons" in done.stdout
    assert list((ws.root / "asb").iterdir()) == []
    code, doc, err = ws.run_json("status", "mssql-to-asb")
    assert code == 0, err
    assert output_of(doc)["resources"] == []


def test_console_lifecycle_asks_the_output_only(ws: Workspace) -> None:
    """The counter is no IInfrastructureProvider: asked, it would exit 1."""
    ws.config(OCI_COUNTER_DEMO)
    for command in ("init", "plan", "status", "destroy"):
        args = [command, "oci-counter-demo"] + (["--auto-approve"] if command == "destroy" else [])
        code, doc, err = ws.run_json(*args)
        assert code == 0, (command, err)
        out = output_of(doc)
        assert out["status"] == "Success"
        assert len(out["resources"]) == 3 and all(isinstance(r, str) for r in out["resources"])
        assert input_of(doc)["outcome"] == "no-infrastructure"
        assert "Traceback" not in err


def lifecycle_task(ws: Workspace, config: str) -> None:
    ws.config(
        f"""
        task "t" {{
          type = "providers"
          input {{ provider_path = "{zoo("counter_input")}" }}
          output {{
            provider_path = "{zoo("sdk_lifecycle")}"
            config {{ {config} }}
          }}
        }}
        """
    )


def test_failed_result_is_a_failed_command(ws: Workspace) -> None:
    """The original printed ✅ and exited 0 after "status":"Failed"; dstream does not."""
    lifecycle_task(ws, 'fail = "init"')
    done = ws.run("init", "t")
    assert done.returncode == 1, done.stderr
    assert "quota exceeded" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    code, doc, _ = ws.run_json("plan", "t")
    assert code == 0
    assert output_of(doc)["resources"] == ["a", "b"]
    assert output_of(doc)["metadata"] == {"command": "plan"}


def test_a_plan_in_the_originals_shape_is_not_said_to_change_nothing(ws: Workspace) -> None:
    """The original's plan lists resources (`console_log_target_1:WILL_CREATE`) and says
    nothing of what changes: `-detailed-exitcode` reported 0, "no changes", so a CI gate
    on it would skip the `init` the plan asked for. What would change is not known: 2."""
    ws.config(OCI_COUNTER_DEMO)
    done = ws.run("plan", "oci-counter-demo", "-detailed-exitcode")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "No changes" not in done.stdout


def test_resources_in_the_originals_shape_are_shown_as_written(ws: Workspace) -> None:
    """docs/lifecycle.md: the original's plain strings are shown as written, one status
    row each (they were prefixed `resource.`, and destroy said `resource.x:DESTROYED`)."""
    ws.config(OCI_COUNTER_DEMO)
    status = ws.run("status", "oci-counter-demo")
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines() if "console_log_target" in line]
    assert rows and all(row[1].startswith("console_log_target_") for row in rows), status.stdout
    assert "resource.console_log_target" not in status.stdout
    destroy = ws.run("destroy", "oci-counter-demo", "--auto-approve")
    assert destroy.returncode == 0, destroy.stderr
    assert "resource.console_log_target" not in destroy.stdout, destroy.stdout


def test_destroy_asks_before_an_original_output_removes_its_queues(ws: Workspace) -> None:
    """A provider of the original's kind answers a destroy preview with its plan (here
    nothing to create: every queue exists), which read as "nothing to destroy": destroy
    asked nothing and removed the queues (a `no` typed was never read), and `plan
    -destroy -detailed-exitcode` said 0. Its preview does not say, so destroy asks."""
    ws.config(MSSQL_TO_ASB)
    assert ws.run("init", "mssql-to-asb").returncode == 0
    planned = ws.run("plan", "-destroy", "-detailed-exitcode", "mssql-to-asb")
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert "does not say what destroy would remove" in planned.stdout, planned.stdout
    done = ws.on_a_terminal("destroy", "mssql-to-asb", answer=b"no")
    assert done.returncode == 1, done.screen
    assert "Only 'yes' will be accepted" in done.screen
    assert sorted(p.name for p in (ws.root / "asb").iterdir()) == [f"{q}.jsonl" for q in QUEUES]
