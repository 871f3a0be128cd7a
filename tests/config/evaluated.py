"""Many HCL expressions evaluated by one `dstream show` (a run each would take minutes):
each the config key c<i> of a task, an error in one being that key's value ERROR
(`try`), so one bad row does not hide the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.workspace import dstream, json_document

ERROR = "<error>"


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
