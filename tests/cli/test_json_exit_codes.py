"""Every --json document of a command that failed carries its `exit_code` (docs/cli.md,
"Exit codes"), whatever failed: a usage error, a check that found something (`fmt
--check`, `lint`), a reference `providers rm` did not find (whose document also says
what, as an error document: `error`, `message`, `hint`)."""

from __future__ import annotations

from pathlib import Path

from tests.workspace import Workspace, dstream_json


def test_fmt_check_that_finds_a_change(ws: Workspace) -> None:
    (ws.root / "a.hcl").write_text('task "t" {\ninput{ provider_path="x" }\n}\n')
    code, doc, _ = dstream_json("fmt", "--check", "a.hcl", cwd=ws.root)
    assert code == 1 and doc["ok"] is False, doc
    assert doc["exit_code"] == 1, doc


def test_lint_that_fails(ws: Workspace) -> None:
    ws.config('task "t" {\n  bogus = 1\n}\n')
    code, doc, _ = dstream_json("lint", cwd=ws.root)
    assert code == 2 and doc["ok"] is False, doc
    assert doc["exit_code"] == 2, doc


def test_providers_rm_of_a_reference_not_cached(ws: Workspace, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    code, doc, _ = dstream_json("providers", "rm", "nosuch:1", "--cache-dir", cache, cwd=ws.root)
    assert code == 2 and doc["ok"] is False, doc
    assert doc["exit_code"] == 2, doc
    assert doc["error"] == "UsageError" and "nosuch:1" in doc["message"] and doc["hint"], doc
    assert doc["not_cached"] == ["nosuch:1"] or doc["not_cached"][0].endswith("nosuch:1"), doc
