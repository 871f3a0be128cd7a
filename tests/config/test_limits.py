"""Where the parser's limits point: the first bracket too many, the byte that is not
UTF-8, and positions that a BOM does not shift (in-process, so exact locations are
compared; tests/hostile runs the same inputs as real processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstream.config.limits import MAX_NESTING, MAX_TASK_NAME_BYTES
from dstream.config.loader import analyze, load_project_text
from dstream.config.model import Location
from dstream.errors import ConfigError
from dstream.state.file import FileStore

HEAD = 'task "t" {\n  input { provider_path = "a" }\n  output {\n    provider_path = "b"\n'


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "c.hcl")
    return caught.value


def test_the_first_bracket_too_many_is_named() -> None:
    prefix = "    config { x = "  # the config block's { is one level, x's brackets the rest
    text = HEAD + prefix + "[" * 100 + "]" * 100 + " }\n  }\n}\n"
    error = _error(text)
    # task {, output {, config {: three levels before the list's brackets begin
    column = len(prefix) + (MAX_NESTING - 3) + 1
    assert error.location == Location("c.hcl", 5, column), error


def test_nesting_within_the_limit_loads() -> None:
    depth = MAX_NESTING - 3
    text = HEAD + "    config { x = " + "[" * depth + "]" * depth + " }\n  }\n}\n"
    assert load_project_text(text, "c.hcl").tasks["t"].output.config["x"] is not None


def test_brackets_in_strings_and_comments_do_not_count() -> None:
    text = HEAD + '    config { x = "' + "(" * 100 + '" }\n' + "# " + "{" * 100 + "\n  }\n}\n"
    assert load_project_text(text, "c.hcl").tasks["t"].output.config["x"] == "(" * 100


def test_a_bom_does_not_shift_positions(tmp_path: Path) -> None:
    path = tmp_path / "dstream.hcl"
    path.write_bytes(b"\xef\xbb\xbf" + (HEAD + "    config { x = nope }\n  }\n}\n").encode())
    result = analyze(str(path), [], [], {})
    (error,) = result.diagnostics.errors
    assert (error.location.line, error.location.column) == (5, 18), error


def test_a_byte_that_is_not_utf8_has_a_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "dstream.hcl"
    path.write_bytes(HEAD.encode() + b'    config { x = "\xc3\xa9\xff" }\n  }\n}\n')
    result = analyze(str(path), [], [], {})
    (error,) = result.diagnostics.errors
    assert (error.location.line, error.location.column) == (5, 20), error
    assert "byte offset" in error.message


@pytest.mark.parametrize(
    ("name", "loads"),
    [
        ("a" * MAX_TASK_NAME_BYTES, True),
        ("é" * (MAX_TASK_NAME_BYTES // 2), True),  # two bytes each in UTF-8
        ("orders v2/../x%41", True),  # the file store escapes what a file name cannot hold
        ("a" * (MAX_TASK_NAME_BYTES + 1), False),
        ("é" * (MAX_TASK_NAME_BYTES // 2 + 1), False),
        ("a\u200bb", False),  # a zero-width space: two names that look alike
    ],
)
def test_a_task_name_is_bounded_in_utf8_bytes(name: str, loads: bool, tmp_path: Path) -> None:
    """What the config accepts, every store keeps: its files' names stay within 255
    bytes, whatever the name's characters."""
    text = HEAD.replace('"t"', f'"{name}"', 1) + "  }\n}\n"
    if not loads:
        assert _error(text).location == Location("c.hcl", 1, 6)
        return
    assert list(load_project_text(text, "c.hcl").tasks) == [name]
    store = FileStore(str(tmp_path))
    store.put(name, 1)
    store.add_run(name, {"started_at": 1.0, "ended_at": 2.0})
    store.set_input_hash(name, "blake2b:00")
    assert [record.task for record in store.tasks()] == [name]
    assert store.unreadable() == []
