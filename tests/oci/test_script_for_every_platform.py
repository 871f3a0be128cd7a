"""A provider that is a script (Node.js, bash, Perl) runs wherever its interpreter
does: it is pushed once per platform it supports, the same file flagged with each
(docs/providers-other-languages.md, "Publishing"), and pulled for any of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.containers import Registry
from tests.workspace import dstream, dstream_json, executable

SCRIPT = '#!/bin/sh\nread -r command\necho \'{"status":"ready","protocol":1}\'\n'
PLATFORMS = ("linux/amd64", "linux/arm64", "darwin/arm64", "darwin/amd64")


@pytest.mark.timeout(300)
def test_one_script_pushed_for_each_platform_is_pulled_for_each(
    tmp_path: Path, registry: Registry
) -> None:
    script = executable(tmp_path / "provider.sh", SCRIPT)
    ref = f"{registry.host}/acme/script:1.0.0"
    code, pushed, err = dstream_json(
        "providers", "push", *(f"{script}:{p}" for p in PLATFORMS), "--ref", ref
    )
    assert code == 0, err
    assert pushed["platforms"] == list(PLATFORMS)
    for platform in PLATFORMS:
        code, pulled, err = dstream_json("providers", "pull", ref, "--platform", platform)
        assert code == 0, err
        assert pulled["platform"] == platform
        assert Path(pulled["path"]).read_text() == SCRIPT


def test_a_platform_not_pushed_is_named_with_those_that_were(
    tmp_path: Path, registry: Registry
) -> None:
    script = executable(tmp_path / "provider.sh", SCRIPT)
    ref = f"{registry.host}/acme/script:1.0.0"
    assert dstream("providers", "push", f"{script}:linux/amd64", "--ref", ref).returncode == 0
    done = dstream("providers", "pull", ref, "--platform", "windows/amd64")
    assert done.returncode != 0
    assert "linux/amd64" in done.stderr, done.stderr
