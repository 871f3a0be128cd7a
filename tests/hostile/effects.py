"""What the rows of tests/hostile/cases.py prepare before a run (`setup`) and check
after it (`check`): files on disk, never the output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import orjson


def stored(root: Path) -> object:
    path = root / "state" / "t.json"
    return orjson.loads(path.read_bytes())["checkpoint"] if path.exists() else None


def expect_state(text: str) -> Callable[[Path], None]:
    """The state file holds this checkpoint, byte for byte as the input wrote it."""

    def check(root: Path) -> None:
        raw = (root / "state" / "t.json").read_text()
        assert text in raw, raw

    return check


def nothing_stored(root: Path) -> None:
    assert stored(root) is None, stored(root)


def all_written(root: Path) -> None:
    lines = (root / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 20 and stored(root) == {"seq": 20}, (len(lines), stored(root))


def acked_within_written(root: Path) -> None:
    """Nothing acknowledged that was not written: the stored seq <= lines on disk."""
    out = root / "out.jsonl"
    lines = len(out.read_bytes().splitlines()) if out.exists() else 0
    checkpoint = stored(root)
    assert checkpoint is None or checkpoint["seq"] <= lines, (checkpoint, lines)


def fifo(root: Path) -> None:
    os.mkfifo(root / "a-fifo")


def regular_file_as_dir(root: Path) -> None:
    (root / "plain").write_text("I am a file\n")


def block_docker(root: Path) -> None:
    """The docker extra cannot be uninstalled from the shared venv, so a sitecustomize
    on PYTHONPATH makes `import docker` fail as it does where the extra is missing."""
    (root / "noextra").mkdir()
    (root / "noextra" / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'docker' or name.startswith('docker.'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )


def corrupt_state(root: Path) -> None:
    """Two stored records, one of them mangled by hand."""
    (root / "state").mkdir()
    record = {"format": 1, "task": "good", "sequence": 1, "updated_at": 1.0, "checkpoint": 5}
    (root / "state" / "good.json").write_bytes(orjson.dumps(record))
    (root / "state" / "bad.json").write_text('{"format": 1, "task": "bad", "sequ')


def dead_letter_is_text(root: Path) -> None:
    """An oversized frame that is UTF-8 is kept as text, whole."""
    records = [orjson.loads(line) for line in (root / "dead.jsonl").read_bytes().splitlines()]
    assert len(records) == 1 and "raw_base64" not in records[0], records[0].keys()
    assert records[0]["raw"] == '{"data":"' + "é" * 1_000_000 + '"}'
