"""Whoever can write the provider cache (a shared DSTREAM_CACHE_DIR, a CI cache a pull
request fills, a cache baked into an image) must not decide what a reference runs:
every use derives the executable from the verified manifest (for a pinned reference,
the manifest of its digest) and checks it against the layer's digest, never against
the cache's mutable ref record. A cached copy that fails is pulled again with a
warning, and when it cannot be, the error says so (docs/security.md, "Artifacts and
the provider cache").

The registry is tests/oci/hostile_registry.py (a real HTTP server on loopback): the
tests need one they can stop and make require authentication mid-test.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import pytest

from dstream.oci.manifest import current_platform
from tests.oci.hostile_registry import LAYER, OCI_MANIFEST, HostileRegistry, requiring, running
from tests.ownership import without_file_override
from tests.providers import SHELL_COUNTING_INPUT
from tests.workspace import CliResult, dstream, dstream_json, executable

PLATFORM = current_platform()
GENUINE = SHELL_COUNTING_INPUT.replace("${TAG:-x}", "genuine").encode()
REPO = "t/p"


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


def publish(registry: HostileRegistry, layer: bytes) -> str:
    """A one-layer artifact; its digest-pinned reference."""
    digest = registry.image(REPO, "1", [{**registry.blob(REPO, layer), "mediaType": LAYER}])
    return f"{registry.host}/{REPO}@{digest}"


def pulled(ref: str) -> dict:
    code, doc, err = dstream_json("providers", "pull", ref)
    assert code == 0, err
    return doc


def evil_script(tmp_path: Path) -> tuple[Path, Path]:
    """A provider that leaves a marker file when it runs; (it, the marker)."""
    marker = tmp_path / "PWNED"
    script = executable(tmp_path / "evil.sh", f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    return script, marker


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def the_record(cache: Path) -> Path:
    (record,) = (cache / "oci" / "refs").glob("*.json")
    return record


def edit_record(cache: Path, top: Optional[dict] = None, **selected: object) -> None:
    """Change the only ref record as an attacker would: its keys `top`, then this
    platform's entry's keys `selected`."""
    path = the_record(cache)
    record = json.loads(path.read_text())
    record.update(top or {})
    if selected:
        record["selected"][PLATFORM].update(selected)
    path.write_text(json.dumps(record))


def tampered(registry: HostileRegistry) -> tuple[str, Path]:
    """GENUINE published and pulled, then its cached executable changed (same size, other
    bytes); (its reference, that executable)."""
    ref = publish(registry, GENUINE)
    path = Path(pulled(ref)["path"])
    path.write_bytes(GENUINE.replace(b"genuine", b"tampers"))
    return ref, path


def run_config(tmp_path: Path, ref: str) -> Path:
    config = tmp_path / "dstream.hcl"
    config.write_text(
        textwrap.dedent(
            f"""
            task "t" {{
              input  {{ provider_ref = "{ref}" }}
              output {{ provider_path = "dstream-console" }}
            }}
            """
        )
    )
    return config


def assert_refused_offline(done: CliResult, warned: str) -> None:
    """Exit 1 with the registry away: the warning names what failed its check, and the
    hint says the cached copy was not run (not that it runs without the registry)."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "[warning] " in done.stderr and warned in done.stderr, done.stderr
    assert "cannot reach registry" in done.stderr, done.stderr
    assert "runs from the cache without the registry" not in done.stderr, done.stderr
    assert "failed its check and was not run" in done.stderr, done.stderr


# -- D1: the record does not decide what runs ------------------------------------------------


def test_a_record_naming_an_executable_outside_the_cache_does_not_run_it(
    tmp_path: Path, isolated_cache: Path
) -> None:
    """The reproduction: the pinned record edited to name another file and its sha256."""
    with running() as registry:
        ref = publish(registry, GENUINE)
        pulled(ref)
    evil, marker = evil_script(tmp_path)
    edit_record(isolated_cache, path=str(evil), sha256=sha256_of(evil))
    done = dstream("run", "-c", str(run_config(tmp_path, ref)), cwd=tmp_path)
    assert not marker.exists(), done.stderr
    assert_refused_offline(done, f"names {evil}")


@pytest.mark.parametrize("where", ["outside", "inside"])
def test_a_record_naming_another_path_is_pulled_again(
    registry: HostileRegistry, tmp_path: Path, isolated_cache: Path, where: str
) -> None:
    ref = publish(registry, GENUINE)
    genuine = Path(pulled(ref)["path"])
    if where == "outside":
        other, _ = evil_script(tmp_path)
    else:  # a file of the cache, but not the layer the manifest names
        (other,) = (isolated_cache / "oci" / "manifests" / "sha256").iterdir()
    edit_record(isolated_cache, path=str(other), sha256=sha256_of(other))
    done = dstream("providers", "pull", ref, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == str(genuine)
    assert f"names {other}" in done.stderr and f"pulling {ref} again" in done.stderr, done.stderr
    record = json.loads(the_record(isolated_cache).read_text())
    assert record["selected"][PLATFORM]["path"] == str(genuine)  # the record is mended
    assert pulled(ref)["path"] == str(genuine)  # and served quietly again
    again = dstream("providers", "pull", ref)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr


def test_a_planted_manifest_cannot_stand_in_for_the_pinned_digest(
    tmp_path: Path, isolated_cache: Path
) -> None:
    """A cache made consistent in every other way (manifest, blob and record planted
    together) still does not serve a pinned reference another manifest than its digest."""
    with running() as registry:
        ref = publish(registry, GENUINE)
        pulled(ref)
    evil, marker = evil_script(tmp_path)
    oci = isolated_cache / "oci"
    layer = sha256_of(evil)
    blob = oci / "blobs" / "sha256" / layer.split(":")[1]
    blob.write_bytes(evil.read_bytes())
    blob.chmod(0o755)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
                "size": 2,
            },
            "layers": [{"mediaType": LAYER, "digest": layer, "size": blob.stat().st_size}],
        }
    ).encode()
    planted = "sha256:" + hashlib.sha256(manifest).hexdigest()
    (oci / "manifests" / "sha256" / planted.split(":")[1]).write_bytes(manifest)
    top = {"manifest": planted, "manifests": [planted]}
    edit_record(isolated_cache, top, path=str(blob), layer=layer, sha256=layer)
    done = dstream("run", "-c", str(run_config(tmp_path, ref)), cwd=tmp_path)
    assert not marker.exists(), done.stderr
    assert_refused_offline(done, f"names manifest {planted}")


# -- D9: a copy that fails its check is pulled again, loudly -----------------------------------


def test_a_tampered_executable_is_pulled_again_with_a_warning(
    registry: HostileRegistry, isolated_cache: Path
) -> None:
    ref, path = tampered(registry)
    done = dstream("providers", "pull", ref, "--json")
    assert done.returncode == 0, done.stderr
    layer = "sha256:" + hashlib.sha256(GENUINE).hexdigest()
    assert f"[warning] cached executable {path} does not match {layer}" in done.stderr

    assert f"pulling {ref} again" in done.stderr, done.stderr
    assert path.read_bytes() == GENUINE


def test_a_tampered_executable_with_the_registry_away_is_an_error_that_says_so(
    tmp_path: Path, isolated_cache: Path
) -> None:
    with running() as registry:
        ref, path = tampered(registry)
    done = dstream("providers", "pull", ref)
    assert_refused_offline(done, f"cached executable {path} does not match")
    run = dstream("run", "-c", str(run_config(tmp_path, ref)), cwd=tmp_path)
    assert_refused_offline(run, f"cached executable {path} does not match")


def test_a_tampered_executable_and_a_registry_asking_for_credentials(
    registry: HostileRegistry, isolated_cache: Path
) -> None:
    ref, _ = tampered(registry)
    digest = ref.split("@")[1]
    registry.behave(f"/v2/{REPO}/manifests/{digest}", requiring('Basic realm="r"'))
    done = dstream("providers", "pull", ref)
    assert done.returncode == 1, done.stderr
    assert f"requires authentication for {REPO}" in done.stderr, done.stderr
    assert "failed its check and was not run" in done.stderr, done.stderr
    assert "docker login" in done.stderr, done.stderr  # the registry's own hint stays


# -- an archive layer: the unpacked tree is checked against the verified blob ---------------


def tar_layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


HELPER = b"#!/bin/sh\necho helper\n"
WRAPPER = b'#!/bin/sh\nexec "$(dirname "$0")/lib/helper.sh"\n'


@pytest.mark.parametrize(
    "tamper",
    ["the executable", "a file beside it", "a file added", "a link added"],
)
def test_a_tampered_unpacked_archive_is_unpacked_again(
    registry: HostileRegistry, isolated_cache: Path, tamper: str
) -> None:
    ref = publish(registry, tar_layer({"plugin": WRAPPER, "lib/helper.sh": HELPER}))
    path = Path(pulled(ref)["path"])
    assert path.name == "plugin" and "unpacked" in path.parts
    if tamper == "the executable":
        path.write_bytes(WRAPPER.replace(b"exec", b"eval"))
    elif tamper == "a file beside it":
        (path.parent / "lib" / "helper.sh").write_bytes(b"#!/bin/sh\necho evil\n")
    elif tamper == "a file added":
        (path.parent / "lib" / "more.sh").write_bytes(b"#!/bin/sh\necho evil\n")
    else:
        (path.parent / "lib" / "link").symlink_to("/etc/passwd")
    done = dstream("providers", "pull", ref, "--json")
    assert done.returncode == 0, done.stderr
    assert f"[warning] cached files in {path.parent} do not match layer" in done.stderr
    assert f"pulling {ref} again" in done.stderr, done.stderr
    assert done.stderr.count("[warning]") == 1, done.stderr  # said once, not again unpacking
    assert json.loads(done.stdout)["path"] == str(path)
    assert path.read_bytes() == WRAPPER
    assert (path.parent / "lib" / "helper.sh").read_bytes() == HELPER
    assert sorted(p.name for p in (path.parent / "lib").iterdir()) == ["helper.sh"]
    quiet = dstream("providers", "pull", ref)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr


def test_a_tampered_tree_another_reference_unpacked_is_not_reused(
    registry: HostileRegistry, isolated_cache: Path
) -> None:
    """The tag's pull unpacked the layer; the pinned reference, pulled for the first time,
    finds that tree changed and unpacks its own."""
    pinned = publish(registry, tar_layer({"plugin": WRAPPER, "lib/helper.sh": HELPER}))
    path = Path(pulled(f"{registry.host}/{REPO}:1")["path"])
    path.write_bytes(b"#!/bin/sh\necho evil\n")
    done = dstream("providers", "pull", pinned, "--json")
    assert done.returncode == 0, done.stderr
    assert f"[warning] cached files in {path.parent} do not match layer" in done.stderr
    assert f"unpacking {pinned} again" in done.stderr, done.stderr
    assert json.loads(done.stdout)["path"] == str(path) and path.read_bytes() == WRAPPER


def test_a_blob_replaced_by_a_link_is_not_followed(
    registry: HostileRegistry, tmp_path: Path, isolated_cache: Path
) -> None:
    """A link to a file with the right content passes a hash, but could be pointed
    elsewhere once checked: only a file of the cache's own is served."""
    ref = publish(registry, GENUINE)
    path = Path(pulled(ref)["path"])
    copy = tmp_path / "copy"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)
    done = dstream("providers", "pull", ref)
    assert done.returncode == 0, done.stderr
    assert f"cached executable {path} is not a regular file" in done.stderr, done.stderr
    assert not path.is_symlink() and path.read_bytes() == GENUINE


@pytest.mark.parametrize(
    "damage",
    [
        {"selected": ["not", "a", "mapping"]},
        {"selected": {PLATFORM: "not an entry"}},
        {"manifest": None},
        {"resolved_at": "yesterday", "platforms": 7, "metadata": []},
        {"platforms": [1], "reference": 5},
        {"selected": {PLATFORM: {"size": "big"}}, "resolved_at": [1]},
    ],
)
def test_a_damaged_record_is_no_crash(
    registry: HostileRegistry, isolated_cache: Path, damage: dict
) -> None:
    """Whatever the record holds, the reference is served or pulled again: never a
    traceback (exit 70)."""
    ref = publish(registry, GENUINE)
    genuine = pulled(ref)["path"]
    edit_record(isolated_cache, damage)
    for listing in (("providers", "list"), ("providers", "list", "--json")):
        listed = dstream(*listing)
        assert listed.returncode == 0, listed.stderr
        assert "[warning] " in listed.stderr and "damaged" in listed.stderr, listed.stderr
    pruned = dstream("providers", "prune")
    assert pruned.returncode == 0, pruned.stderr
    done = dstream("providers", "pull", ref, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == genuine


def test_an_archive_of_links_directories_and_repeated_names_is_served_quietly(
    registry: HostileRegistry, isolated_cache: Path
) -> None:
    """The check of an unpacked tree reads the archive as unpacking wrote it: a hard
    link, a symbolic link, a directory entry and a name given twice (the later wins)
    are no mismatch."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(
            name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o755
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        add("./lib", kind=tarfile.DIRTYPE)
        add("lib/helper.sh", b"#!/bin/sh\necho first\n")
        add("lib/same.sh", kind=tarfile.LNKTYPE, link="lib/helper.sh")
        add("lib/helper.sh", HELPER)  # replaces the file; the hard link keeps "first"
        add("lib/alias", kind=tarfile.SYMTYPE, link="helper.sh")
        add("plugin", WRAPPER)
    ref = publish(registry, buffer.getvalue())
    path = Path(pulled(ref)["path"])
    assert (path.parent / "lib" / "same.sh").read_bytes() == b"#!/bin/sh\necho first\n"
    for _ in range(2):
        done = dstream("providers", "pull", ref, "--json")
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        assert json.loads(done.stdout)["path"] == str(path)
        assert json.loads(done.stdout)["from_cache"] is True


def test_a_provider_writing_into_its_own_directory_is_told_apart(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    """A file the provider itself added to its unpacked tree (Python's __pycache__) is
    refused as any added file is, since a planted one looks the same; the warning names
    the added files and says what a provider that writes there must do instead."""
    writes = SHELL_COUNTING_INPUT.replace(
        "read -r command", 'read -r command\n: > "$(dirname "$0")/state.txt"'
    )
    ref = publish(registry, tar_layer({"plugin": writes.encode()}))
    config = run_config(tmp_path, ref)
    first = dstream("run", "-c", str(config), cwd=tmp_path)
    assert first.returncode == 0 and "[warning]" not in first.stderr, first.stderr
    again = dstream("run", "-c", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "do not match layer" in again.stderr, again.stderr
    assert "added: state.txt" in again.stderr, again.stderr
    assert "writes into its own directory" in again.stderr and "TMPDIR" in again.stderr


def test_an_unpacked_provider_cannot_write_beside_itself(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    """The unpacked tree is read-only, so a provider that writes beside itself (Python
    writes __pycache__ there) cannot change what the next run checks: the next run
    warned that the cache was damaged, pulled again, and failed offline. Run as a user
    file permissions apply to (root ignores them)."""
    writes = SHELL_COUNTING_INPUT.replace(
        "read -r command",
        'read -r command\ntouch "$(dirname "$0")/state.txt" 2>/dev/null || echo "cannot write" >&2',
    )
    ref = publish(registry, tar_layer({"plugin": writes.encode()}))
    config = run_config(tmp_path, ref)
    prefix = without_file_override()
    first = dstream("run", "-c", str(config), cwd=tmp_path, prefix=prefix)
    assert first.returncode == 0 and "[warning]" not in first.stderr, first.stderr
    assert "cannot write" in first.stderr, first.stderr  # the provider was refused
    again = dstream("run", "-c", str(config), cwd=tmp_path, prefix=prefix)
    assert again.returncode == 0 and "[warning]" not in again.stderr, again.stderr
    pruned = dstream("providers", "prune", "--all", prefix=prefix)
    assert pruned.returncode == 0, pruned.stderr


def test_a_cache_this_user_may_not_write_still_runs_its_copy_when_the_registry_is_away(
    registry: HostileRegistry, tmp_path: Path, isolated_cache: Path
) -> None:
    """A read-only cache (an image's): the lock a pull takes could not be made, and the
    pull failed before the registry was asked, so a tag due for a re-check no longer ran
    its verified copy with a warning when the registry was away."""
    ref = publish(registry, GENUINE).split("@")[0] + ":1"  # the tag: it can be due
    assert dstream("providers", "pull", ref).returncode == 0
    config = run_config(tmp_path, ref)
    for path in [isolated_cache, *isolated_cache.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)
    try:
        registry.behave(f"/v2/{REPO}/manifests/1", lambda handler: handler.reply(503, b""))
        done = dstream(
            "run", "-c", str(config), cwd=tmp_path, prefix=without_file_override(),
            env={"DSTREAM_PROVIDER_MAX_AGE": "0"},
        )  # fmt: skip
    finally:
        for path in [isolated_cache, *isolated_cache.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    assert done.returncode == 0, done.stderr
    assert "[warning]" in done.stderr, done.stderr
