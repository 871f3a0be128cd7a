"""dstream-file given a `path` it cannot open (a directory, a path through a file, a
directory it may not write to): one error naming the path and the config key, with a
hint, and no traceback anywhere, in text and in --json. Real runs of the built-in
provider, which is started by dstream as users start it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import orjson
import pytest

from tests.ownership import without_file_override
from tests.workspace import Workspace


def _directory(root: Path) -> str:
    (root / "outdir").mkdir()
    return "outdir"


def _through_a_file(root: Path) -> str:
    (root / "afile").write_text("not a directory\n")
    return "afile/out.jsonl"


def _not_writable(root: Path) -> str:
    (root / "ro").mkdir()
    (root / "ro").chmod(0o555)
    return "ro/out.jsonl"


def _table_in_a_file(root: Path) -> str:
    (root / "out").mkdir()
    (root / "out" / "orders").write_text("a file where a directory is wanted\n")
    return "out/{TableName}/part.jsonl"


CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "directory": (_directory, "outdir"),
    "through-a-file": (_through_a_file, "afile/out.jsonl"),
    "not-writable": (_not_writable, "ro/out.jsonl"),
    "table-path-through-a-file": (_table_in_a_file, "out/orders/part.jsonl"),
}


def _setup(ws: Workspace, case: str) -> str:
    make, shown = CASES[case]
    path = make(ws.root)
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              interval  = 0
              max_count = 10
              tables    = ["orders"]
            }}
          }}
          output {{
            provider_path = "dstream-file"
            config {{ path = "{path}" }}
          }}
        }}
        """
    )
    return shown


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(CASES))
def test_an_unusable_path_is_one_clear_error(ws: Workspace, case: str) -> None:
    shown = _setup(ws, case)
    # Root may write to any directory: as root, a read-only one takes dstream without
    # the capabilities that override file permissions.
    prefix = without_file_override() if case == "not-writable" else []
    text = ws.run("run", "t", prefix=prefix, timeout=100)
    err = text.stderr
    assert text.returncode == 1, err
    assert "Traceback" not in err
    assert "Error: [Errno" not in err  # a Python exception's repr is not a message
    assert shown in err and "config key 'path'" in err, err
    assert "hint" in err, err
    as_json = ws.run("run", "t", "--json", prefix=prefix, timeout=100)
    assert as_json.returncode == 1
    assert "Traceback" not in as_json.stdout + as_json.stderr
    error = orjson.loads(as_json.stdout)["tasks"][0]["error"]
    # A refusal at start is dstream's message; a file a table's envelopes cannot go to
    # fails the output mid-stream, and its last stderr lines say why.
    said = "\n".join([error["message"], *error.get("stderr_tail", [])])
    assert shown in said and "config key 'path'" in said, error
    assert error["hint"], error
