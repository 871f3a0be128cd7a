"""A registry named under `.localhost` (RFC 6761 reserves the name for loopback) gets
plain HTTP, as `localhost` does, only when its name resolves to loopback addresses
alone: a resolver that asks the network may be told any address, and plain HTTP sends
the registry's credentials in the clear. The connection then goes to the address that
was checked, never to a second answer. docs/oci.md, "References".

Each dstream runs in a user and mount namespace of its own, with /etc/hosts replaced
there by the test's (unshare -rm, as tests/oci/test_cache_failures.py does); the
registry is tests/oci/hostile_registry.py on 127.0.0.1, which the dstream process,
in the same network namespace, reaches.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.hostile_registry import LAYER, HostileRegistry, running
from tests.workspace import CliResult, dstream_argv, environ

REPO = "a/p"
# 0.0.0.0 is no loopback address, yet Linux connects it to this host: a TLS attempt
# fails at once (the registry speaks HTTP) instead of waiting on a far address.
HOSTS = "127.0.0.1 reg.localhost\n::1 reg.localhost\n0.0.0.0 away.localhost\n"


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    if (
        not shutil.which("unshare")
        or subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode
    ):
        pytest.skip("no user namespaces here (unshare -rm)")
    with running() as server:
        layer = {**server.blob(REPO, b"#!/bin/sh\necho hi\n"), "mediaType": LAYER}
        server.image(REPO, "1", [layer])
        yield server


def with_hosts(tmp_path: Path, *args: str) -> CliResult:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS)
    command = " ".join(shlex.quote(a) for a in dstream_argv(*args))
    script = f"mount --bind {hosts} /etc/hosts && exec {command}"
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True, env=environ(), timeout=120, check=False,
    )  # fmt: skip
    return CliResult([script], done.returncode, done.stdout, done.stderr)


def manifest_requests(registry: HostileRegistry) -> list[str]:
    return [p for p in registry.paths() if "/manifests/" in p]


def test_a_localhost_name_that_resolves_to_loopback_gets_plain_http(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    port = registry.host.split(":")[1]
    done = with_hosts(tmp_path, "providers", "pull", f"reg.localhost:{port}/{REPO}:1")
    assert done.returncode == 0, done.stderr
    assert registry.seen[-1].headers["host"] == f"reg.localhost:{port}"


def test_a_localhost_name_that_resolves_elsewhere_is_no_loopback(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    port = registry.host.split(":")[1]
    done = with_hosts(tmp_path, "providers", "pull", f"away.localhost:{port}/{REPO}:1")
    assert done.returncode == 1, done.stderr
    assert "TLS failed with registry away.localhost" in done.stderr, done.stderr
    assert "--insecure" in done.stderr, done.stderr
    assert manifest_requests(registry) == []


def test_plain_http_to_a_localhost_name_goes_only_to_loopback(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    """Even when asked for plain HTTP (--insecure), a name RFC 6761 calls loopback is
    not reached anywhere else: the user meant this machine."""
    port = registry.host.split(":")[1]
    ref = f"away.localhost:{port}/{REPO}:1"
    done = with_hosts(tmp_path, "providers", "pull", ref, "--insecure")
    assert done.returncode == 1, done.stderr
    assert "away.localhost resolves to 0.0.0.0" in done.stderr, done.stderr
    assert "loopback" in done.stderr, done.stderr
    assert manifest_requests(registry) == []
