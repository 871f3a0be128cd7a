"""What `providers prune` says it removed is what it removed: the references (with
--all), and the cached files (blobs, manifests, unpacked layers), in the same words and
JSON keys as `providers rm`."""

from __future__ import annotations

from pathlib import Path

from dstream.oci.cache import Cache
from tests.containers import Registry
from tests.oci.test_registry import push
from tests.providers import SHELL_COUNTING_INPUT as INPUT_SCRIPT
from tests.workspace import dstream, dstream_json


def cached_entries(cache: Path) -> list[Path]:
    return [
        entry
        for kind in ("blobs", "manifests", "unpacked")
        for entry in (cache / "oci" / kind / "sha256").glob("*")
    ]


def pulled(registry: Registry, tmp_path: Path, names: list[str]) -> list[str]:
    refs = []
    for name in names:
        ref = f"{registry.host}/acme/{name}:1"
        push(tmp_path, ref, INPUT_SCRIPT.replace("${TAG:-x}", name), name=f"{name}.sh")
        assert dstream("providers", "pull", ref).returncode == 0
        refs.append(ref)
    return refs


def test_prune_all_counts_references_and_files(
    registry: Registry, tmp_path: Path, isolated_cache: Path
) -> None:
    refs = pulled(registry, tmp_path, ["a", "b", "c"])
    files = len(cached_entries(isolated_cache))
    assert files >= 6  # a blob and a manifest at least for each
    code, doc, err = dstream_json("providers", "prune", "--all")
    assert code == 0, err
    assert doc["removed"] == refs and doc["files"] == files and doc["bytes"] > 0

    refs = pulled(registry, tmp_path, ["a", "b", "c"])
    files = len(cached_entries(isolated_cache))
    done = dstream("providers", "prune", "--all")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:3] == [f"removed {ref}" for ref in refs], done.stdout
    assert lines[3].startswith(f"deleted {files} cached files"), done.stdout


def test_prune_counts_the_files_no_reference_uses(
    registry: Registry, tmp_path: Path, isolated_cache: Path
) -> None:
    first, _ = pulled(registry, tmp_path, ["a", "b"])
    before = set(cached_entries(isolated_cache))
    Cache(str(isolated_cache)).ref_path(first).unlink()  # what `rm` does, without its prune
    code, doc, err = dstream_json("providers", "prune")
    assert code == 0, err
    gone = before - set(cached_entries(isolated_cache))
    assert doc["removed"] == [] and doc["files"] == len(gone) > 0 and doc["bytes"] > 0
