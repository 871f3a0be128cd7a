"""`dstream lint` reports every problem (docs/cli.md): a task that fails to evaluate
hides nothing of the other tasks, whose providers are still looked for and whose
provider configs and references are still checked. Real providers, as lint runs them."""

from __future__ import annotations

from tests.workspace import Workspace

CONFIG = """\
task "u" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-console"
    config { bogus_key = 1 }
  }
}
task "v" {
  input { provider_path = "./not-there.sh" }
  output { provider_ref = "ghcr.io/Acme/UPPER:1" }
}
task "w" {
  input { provider_path = "dstream-counter" }
  output { provider_path = "dstream-console" }
  max_frame_size = "lots"
}
"""


def test_a_task_that_fails_hides_nothing_of_the_others(ws: Workspace) -> None:
    (ws.root / "dstream.hcl").write_text(CONFIG)
    code, document, stderr = ws.run_json("lint")
    assert code == 2, stderr
    found = {(d["location"], d["severity"]): d["message"] for d in document["diagnostics"]}
    assert "must be a size" in found["dstream.hcl:15:20", "error"]  # w: max_frame_size
    assert "unknown config key 'bogus_key'" in found["dstream.hcl:5:14", "error"]  # u
    assert "does not exist" in found["dstream.hcl:9:3", "warning"]  # v: no such provider
    assert "must be lowercase" in found["dstream.hcl:10:3", "error"]  # v: its reference
    assert document["errors"] == 3


OWN_ERROR = """\
variable "pw" {
  sensitive = true
}
task "c" {
  max_frame_size = var.pw
  input {
    provider_path = "dstream-counter"
    config = { bogus = 1 }
  }
  output { provider_path = "dstream-null" }
}
"""


def test_a_tasks_own_error_hides_nothing_of_its_providers(ws: Workspace) -> None:
    """A bad max_frame_size made lint skip the task's provider configs: their unknown
    key was reported only once the first error was fixed."""
    (ws.root / "dstream.hcl").write_text(OWN_ERROR)
    ws.env["DSTREAM_VAR_pw"] = "abc"
    code, document, stderr = ws.run_json("lint")
    assert code == 2, stderr
    found = {d["location"]: d["message"] for d in document["diagnostics"]}
    assert "must be a size" in found["dstream.hcl:5:20"], found
    assert "unknown config key 'bogus'" in found["dstream.hcl:8:16"], found
    assert document["errors"] == 2, found


UNKNOWN_ATTRIBUTES = """\
variable "pw" {
  sensitive = true
}
task "d" {
  input {
    provider_path = "dstream-counter"
    config { max_cout = 3 }
  }
  output {
    provider_path = "./missing-sink"
    config { password = var.pw }
  }
  stop_grce = "5s"
  flush_timout = "1s"
}
"""


def test_a_tasks_unknown_attributes_hide_nothing_of_it(ws: Workspace) -> None:
    """A typo in a task's attribute name made lint skip the task's provider configs and
    its warnings, and name only the first typo: all are reported in one pass."""
    (ws.root / "dstream.hcl").write_text(UNKNOWN_ATTRIBUTES)
    code, document, stderr = ws.run_json("lint")
    assert code == 2, stderr
    found = {(d["location"], d["severity"]): d["message"] for d in document["diagnostics"]}
    assert "unknown attribute 'stop_grce'" in found["dstream.hcl:13:3", "error"], found
    assert "unknown attribute 'flush_timout'" in found["dstream.hcl:14:3", "error"], found
    assert "unknown config key 'max_cout'" in found["dstream.hcl:7:14", "error"], found
    assert "does not exist" in found["dstream.hcl:9:3", "warning"], found
    assert any("has no value" in message for message in found.values()), found
    assert document["errors"] == 3, found
