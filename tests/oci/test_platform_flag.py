"""`--platform` and what a platform the artifact lacks is told to do: the flag takes
OS/ARCH alone (dstream picks by OS and architecture; a variant or an architecture alone
is a usage error), and the hint for a missing platform pushes every platform again in
one push, since a push replaces the tag with exactly what it is given."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.containers import Registry
from tests.workspace import dstream, dstream_json, executable

SCRIPT = '#!/bin/sh\nread -r command\necho \'{"status":"ready","protocol":1}\'\n'


@pytest.mark.timeout(300)
def test_the_hint_for_a_missing_platform_keeps_the_others(
    tmp_path: Path, registry: Registry
) -> None:
    """The hint, followed as written (FILE the script), gives an artifact that has the
    missing platform and still every one it had."""
    script = executable(tmp_path / "provider.sh", SCRIPT)
    ref = f"{registry.host}/acme/script:1"
    pushed = ("linux/arm64", "darwin/arm64")
    first = dstream("providers", "push", *(f"{script}:{p}" for p in pushed), "--ref", ref)
    assert first.returncode == 0, first.stderr
    done = dstream("providers", "pull", ref, "--platform", "windows/amd64")
    assert done.returncode == 1, done.stderr
    (command,) = re.findall(r"`(dstream providers push [^`]*)`", done.stderr)
    argv = [word.replace("FILE", str(script)) for word in shlex.split(command)]
    assert argv[:3] == ["dstream", "providers", "push"] and ref in argv, command
    assert dstream(*argv[1:]).returncode == 0
    for platform in (*pushed, "windows/amd64"):
        code, pulled, err = dstream_json("providers", "pull", ref, "--platform", platform)
        assert code == 0 and pulled["platform"] == platform, (platform, pulled, err)
