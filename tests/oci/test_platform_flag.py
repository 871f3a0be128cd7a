"""`--platform` and what a platform the artifact lacks is told to do: the flag takes
OS/ARCH alone (dstream picks by OS and architecture; a variant or an architecture alone
is a usage error), and the hint for a missing platform pushes every platform again in
one push, since a push replaces the tag with exactly what it is given."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers import Registry
from tests.oci.hostile_registry import LAYER, HostileRegistry, running
from tests.workspace import dstream, dstream_json, executable

SCRIPT = '#!/bin/sh\nread -r command\necho \'{"status":"ready","protocol":1}\'\n'


@pytest.fixture
def hostile() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


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


@pytest.mark.parametrize("given", ["arm64", "linux/arm64/v8", "Linux/ARM64", "linux/", ""])
def test_a_platform_that_is_not_os_arch_is_a_usage_error(
    hostile: HostileRegistry, given: str
) -> None:
    done = dstream("providers", "pull", f"{hostile.host}/a/p:1", "--platform", given)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "--platform" in done.stderr and "OS/ARCH" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and hostile.paths() == [], done.stderr


@pytest.mark.parametrize("given", ["linux/arm64/v8", "linux/arm/v7"])
def test_push_refuses_a_variant_as_pull_does(
    hostile: HostileRegistry, tmp_path: Path, given: str
) -> None:
    """A variant would be printed and not recorded: dstream picks by OS/ARCH alone."""
    script = executable(tmp_path / "provider.sh", SCRIPT)
    done = dstream("providers", "push", f"{script}:{given}", "--ref", f"{hostile.host}/a/p:1")
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "OS/ARCH" in done.stderr and "variant" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and hostile.paths() == [], done.stderr


def test_list_counts_a_file_pulled_for_two_platforms_once(hostile: HostileRegistry) -> None:
    """A single-layer artifact is the provider of every platform: pulled for two, it is
    one file in the cache, and `list` shows its size once."""
    data = SCRIPT.encode()
    hostile.image("a/any", "1", [{**hostile.blob("a/any", data), "mediaType": LAYER}])
    ref = f"{hostile.host}/a/any:1"
    for platform in ("linux/amd64", "linux/arm64"):
        code, _, err = dstream_json("providers", "pull", ref, "--platform", platform)
        assert code == 0, err
    done = dstream("providers", "list", "--json")
    assert done.returncode == 0, done.stderr
    (listed,) = json.loads(done.stdout)["providers"]
    assert listed["cached_platforms"] == ["linux/amd64", "linux/arm64"]
    assert listed["size"] == len(data), listed
