"""A registry that is there but cannot serve now: it answers 429 or 5xx, or the
connection breaks or ends early mid-body. That is the registry being unavailable, as
one that cannot be reached is: a tag due for a re-check runs its verified cached copy
with a warning (docs/oci.md, "The cache"), and an explicit `pull --refresh` fails. An
answer about the reference itself (403, 404) is no unavailability: it stays an error.
A download cut short is said to be that (with a retry hint), never tampering.

The registry is tests/oci/hostile_registry.py (a real HTTP server on loopback).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.oci.client import RegistryClient
from dstream.oci.errors import RegistryUnreachable
from tests.oci.hostile_registry import (
    LAYER,
    Behaviour,
    HostileRegistry,
    reset,
    running,
    stall,
    status,
    truncated,
)
from tests.oci.test_cache_trust import run_config
from tests.providers import SHELL_COUNTING_INPUT
from tests.workspace import dstream

REPO = "a/p"
DUE = {"DSTREAM_PROVIDER_MAX_AGE": "0"}  # every cached tag is due for a re-check
FIRST = SHELL_COUNTING_INPUT.replace("${TAG:-x}", "first").encode()
# 18000 bytes: a body long enough to be cut after 5000
SECOND = SHELL_COUNTING_INPUT.replace("${TAG:-x}", "second").encode().ljust(18000, b"\n")
BUSY = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


def publish(registry: HostileRegistry, content: bytes) -> dict:
    """`content` as the one layer of REPO:1; its layer descriptor."""
    layer = {**registry.blob(REPO, content), "mediaType": LAYER}
    registry.image(REPO, "1", [layer])
    return layer


def pulled_then(registry: HostileRegistry, tmp_path: Path) -> tuple[str, Path]:
    """REPO:1 published and pulled; (its reference, a task running it)."""
    ref = f"{registry.host}/{REPO}:1"
    publish(registry, FIRST)
    assert dstream("providers", "pull", ref).returncode == 0
    return ref, run_config(tmp_path, ref)


UNAVAILABLE: dict[str, tuple[Behaviour, str]] = {
    "429": (status(429, BUSY), "answered 429 (TOOMANYREQUESTS: slow down)"),
    "502": (status(502, b"bad gateway"), "answered 502"),
    "503": (status(503, b"{}"), "answered 503"),
    "reset mid-body": (reset, "broke while reading"),
    "closed mid-body": (truncated(b"{" + b" " * 9999, 100), "ended after 100 of 10000 bytes"),
}


@pytest.mark.parametrize("kind", sorted(UNAVAILABLE))
def test_a_registry_unavailable_for_the_manifest_runs_the_cached_copy(
    registry: HostileRegistry, tmp_path: Path, kind: str
) -> None:
    ref, config = pulled_then(registry, tmp_path)
    behaviour, said = UNAVAILABLE[kind]
    registry.behave(f"/v2/{REPO}/manifests/1", behaviour)
    done = dstream("run", "t", "-c", str(config), cwd=tmp_path, env=DUE)
    assert done.returncode == 0, done.stderr
    assert "[warning] " in done.stderr and said in done.stderr, done.stderr
    assert f"using {ref} as cached" in done.stderr, done.stderr
    assert '"first"' in done.stdout, done.stdout
    # asked for the registry's answer, there is none to give
    refresh = dstream("providers", "pull", "--refresh", ref)
    assert refresh.returncode == 1 and said in refresh.stderr, refresh.stderr


@pytest.mark.parametrize("code", [403, 404])
def test_an_answer_about_the_reference_stays_an_error(
    registry: HostileRegistry, tmp_path: Path, code: int
) -> None:
    _, config = pulled_then(registry, tmp_path)
    registry.behave(f"/v2/{REPO}/manifests/1", status(code))
    done = dstream("run", "t", "-c", str(config), cwd=tmp_path, env=DUE)
    assert done.returncode == 1, done.stderr
    assert "as cached" not in done.stderr, done.stderr


def test_a_download_cut_short_is_a_network_cut_not_tampering(registry: HostileRegistry) -> None:
    layer = publish(registry, SECOND)
    registry.behave(f"/v2/{REPO}/blobs/{layer['digest']}", truncated(SECOND, 5000))
    done = dstream("providers", "pull", f"{registry.host}/{REPO}:1")
    assert done.returncode == 1, done.stderr
    assert "ended after 5000 of 18000 bytes" in done.stderr, done.stderr
    assert "retry" in done.stderr, done.stderr
    assert "altered" not in done.stderr and "verification" not in done.stderr, done.stderr


def test_a_download_cut_short_runs_the_cached_copy(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    """The tag moved to SECOND since the pull; its download is cut: FIRST runs."""
    ref, config = pulled_then(registry, tmp_path)
    layer = publish(registry, SECOND)
    registry.behave(f"/v2/{REPO}/blobs/{layer['digest']}", truncated(SECOND, 5000))
    done = dstream("run", "t", "-c", str(config), cwd=tmp_path, env=DUE)
    assert done.returncode == 0, done.stderr
    assert "ended after 5000 of 18000 bytes" in done.stderr, done.stderr
    assert f"using {ref} as cached" in done.stderr, done.stderr
    assert '"first"' in done.stdout, done.stdout


@pytest.mark.timeout(60)
def test_a_registry_that_stalls_mid_blob_says_how_long_and_how_far(
    registry: HostileRegistry,
) -> None:
    """Nothing for the client's timeout (60 s, here half a second): said in words, with
    how much of the body came, never as a Python exception's repr."""
    layer = publish(registry, SECOND)
    path = f"/v2/{REPO}/blobs/{layer['digest']}"
    registry.behave(path, stall(SECOND, 5000))
    client = RegistryClient(registry.host, timeout=0.5)
    with pytest.raises(RegistryUnreachable) as info:
        client.fetch_blob(REPO, layer["digest"], io.BytesIO(), size=len(SECOND))
    error = info.value
    said = f"registry {registry.host} sent nothing for 0.5 s while sending {path} "
    assert said in error.reason, error.reason
    assert "(5000 of 18000 bytes read)" in error.reason, error.reason
    assert "TimeoutError" not in error.reason and "timed out" not in error.reason, error.reason
    assert error.hint and "retry" in error.hint and "not configurable" in error.hint, error.hint
