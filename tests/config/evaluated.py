"""Many HCL expressions evaluated by one `dstream show` (a run each would take minutes):
each the config key c<i> of a task, an error in one being that key's value ERROR
(`try`), so one bad row does not hide the others; and one `locals` attribute `x`
evaluated as written (`local_x`), for a text `try` would change (comments, heredocs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.workspace import dstream, json_document

ERROR = "<error>"
# A task whose output's config is local.x (`local_x`).
LOCAL_X_TASK = """
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-null"
    config { x = local.x }
  }
}
"""


def local_x_config(attribute: str) -> str:
    """A configuration of a locals block holding `attribute` (`x = ...`) and its task."""
    return f"locals {{\n  {attribute}\n}}\n{LOCAL_X_TASK}"


def local_x(directory: Path, attribute: str) -> Any:
    """What `dstream show` gives for local.x, `attribute` (`x = ...`) in a locals block."""
    config = directory / "dstream.hcl"
    config.write_text(local_x_config(attribute))
    done = dstream("show", "t", "--json", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 0, done.stderr
    return json_document(done)["output"]["config"]["x"]


def evaluated(directory: Path, expressions: list[str]) -> dict[str, Any]:
    """The values of `expressions`, by key c<i>."""
    lines = [
        f'      c{i} = try({expression}, "{ERROR}")' for i, expression in enumerate(expressions)
    ]
    config = directory / "dstream.hcl"
    config.write_text(
        'task "t" {\n  input {\n    provider_path = "/bin/cat"\n    config = {\n'
        + "\n".join(lines)
        + '\n    }\n  }\n  output { provider_path = "/bin/cat" }\n}\n'
    )
    done = dstream("show", "t", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 0, done.stderr
    return json_document(done)["input"]["config"]  # type: ignore[no-any-return]
