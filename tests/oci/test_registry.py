"""provider_ref against a real registry (Debian docker-registry on a loopback port):
push, pull, run, the original convention, digests, tampering, auth, cache behaviour."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import textwrap
from pathlib import Path

import pytest

from dstream.config.model import ProviderSpec, TaskSpec
from dstream.oci import pull, resolve_provider_ref
from dstream.oci.manifest import current_platform, flat_name
from dstream.runtime.prefetch import pull_task_providers
from tests.containers import Registry
from tests.oci.rawpush import index_push, oras_style_push
from tests.providers import SHELL_COUNTING_INPUT as INPUT_SCRIPT
from tests.providers import SHELL_OUTPUT as OUTPUT_SCRIPT
from tests.workspace import Workspace, dstream, dstream_json, executable

PLATFORM = current_platform()


def push(tmp_path: Path, ref: str, body: str, *extra: str, name: str = "p.sh") -> dict:
    script = executable(tmp_path / name, body)
    code, doc, err = dstream_json("providers", "push", f"{script}:{PLATFORM}", "--ref", ref, *extra)
    assert code == 0, err
    return doc


def task_config(tmp_path: Path, input_ref: str, output_ref: str, out: Path) -> Path:
    config = tmp_path / "dstream.hcl"
    config.write_text(
        textwrap.dedent(
            f"""
            task "t" {{
              input  {{ provider_ref = "{input_ref}" }}
              output {{
                provider_ref = "{output_ref}"
                env = {{ OUT = "{out}" }}
              }}
            }}
            """
        )
    )
    return config


def run_task(config: Path, **env: str) -> list[dict]:
    done = dstream("run", "t", "-c", str(config), cwd=config.parent, env=env)
    assert done.returncode == 0, done.stderr
    out = Path(textwrap.dedent(config.read_text()).split('OUT = "')[1].split('"')[0])
    return [json.loads(line) for line in out.read_text().splitlines()]


def cache_files(cache: Path) -> list[str]:
    return sorted(
        str(p.relative_to(cache))
        for kind in ("blobs", "refs", "unpacked")
        for p in (cache / "oci" / kind).rglob("*")
        if p.is_file()
    )


def test_push_pull_and_run_a_task_whose_providers_both_come_from_refs(
    registry: Registry, tmp_path: Path
) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text('{"type": "object", "properties": {"count": {"type": "integer"}}}')
    pushed = push(
        tmp_path,
        f"{registry.host}/acme/input:1.0",
        INPUT_SCRIPT,
        "--role",
        "input",
        "--schema",
        str(schema),
        name="in.sh",
    )
    assert pushed["metadata"]["config_schema"]["type"] == "object"
    push(
        tmp_path,
        f"{registry.host}/acme/output:1.0",
        OUTPUT_SCRIPT,
        "--role",
        "output",
        name="out.sh",
    )

    code, doc, err = dstream_json("providers", "pull", f"{registry.host}/acme/input:1.0")
    assert code == 0, err
    assert doc["digest"] == pushed["digest"]
    assert doc["platform"] == PLATFORM and not doc["from_cache"]
    assert os.access(doc["path"], os.X_OK)
    assert Path(doc["path"]).read_text() == INPUT_SCRIPT

    code, info, err = dstream_json("providers", "inspect", f"{registry.host}/acme/input:1.0")
    assert code == 0, err
    assert info["artifact_type"] == "application/vnd.dstream.provider"
    assert [p["title"] for p in info["platforms"]] == [flat_name(PLATFORM)]
    assert info["metadata"]["role"] == "input"

    out = tmp_path / "got.jsonl"
    config = task_config(
        tmp_path, f"{registry.host}/acme/input:1.0", f"{registry.host}/acme/output:1.0", out
    )
    rows = run_task(config)
    assert [r["data"]["n"] for r in rows] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("legacy_config", [False, True], ids=["oras-1.1", "oras-1.0"])
def test_artifact_in_the_original_convention_runs(
    registry: Registry, tmp_path: Path, legacy_config: bool
) -> None:
    """Pushed by another client (raw HTTP, like `oras push`): files plugin.<os>_<arch>,
    provider.json, no exec bit, layers typed as tar although they are plain files."""
    files = {
        flat_name(PLATFORM): INPUT_SCRIPT.replace("${TAG:-x}", "orig").encode(),
        "plugin.windows_amd64.exe": b"MZ not for this machine",
        "plugin.darwin_arm64": b"\xcf\xfa\xed\xfe not for this machine",
        "provider.json": json.dumps({"name": "orig", "type": "input"}).encode(),
    }
    oras_style_push(registry.host, "katasec/counter", "v0.1", files, legacy_config=legacy_config)
    push(tmp_path, f"{registry.host}/acme/output:1", OUTPUT_SCRIPT, name="out.sh")
    out = tmp_path / "got.jsonl"
    config = task_config(
        tmp_path, f"{registry.host}/katasec/counter:v0.1", f"{registry.host}/acme/output:1", out
    )
    rows = run_task(config)
    assert [r["data"]["from"] for r in rows] == ["orig"] * 5
    code, doc, _ = dstream_json("providers", "pull", f"{registry.host}/katasec/counter:v0.1")
    assert code == 0
    assert sorted(doc["platforms"]) == sorted(["darwin/arm64", "windows/amd64", PLATFORM])
    assert doc["metadata"] == {"name": "orig", "type": "input"}


def test_original_convention_without_this_platform_lists_what_there_is(registry: Registry) -> None:
    oras_style_push(registry.host, "x/only-mac", "1", {"plugin.darwin_arm64": b"x"})
    done = dstream("providers", "pull", f"{registry.host}/x/only-mac:1")
    assert done.returncode == 1
    assert f"has no executable for {PLATFORM}; it has: darwin/arm64" in done.stderr


def test_digest_pinned_reference_keeps_its_content_when_the_tag_moves(
    registry: Registry, tmp_path: Path, isolated_cache: Path
) -> None:
    first = push(
        tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT.replace("${TAG:-x}", "one")
    )
    push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT.replace("${TAG:-x}", "two"))
    push(tmp_path, f"{registry.host}/acme/output:1", OUTPUT_SCRIPT, name="out.sh")
    pinned = first["pinned"]
    assert "@sha256:" in pinned
    config = task_config(tmp_path, pinned, f"{registry.host}/acme/output:1", tmp_path / "o.jsonl")
    assert {r["data"]["from"] for r in run_task(config)} == {"one"}
    # tag + digest: the digest decides
    tagged_pin = pinned.replace("@", ":1@")
    assert "one" in resolve_provider_ref(tagged_pin).read_text()


def test_a_tampered_blob_is_refused_and_leaves_nothing_in_the_cache(
    registry: Registry, tmp_path: Path, isolated_cache: Path
) -> None:
    pushed = push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT)
    code, info, _ = dstream_json("providers", "inspect", f"{registry.host}/acme/input:1")
    assert code == 0
    blob = registry.blob_file(info["platforms"][0]["digest"])
    blob.write_bytes(blob.read_bytes().replace(b"ready", b"evil!"))  # same size, other bytes
    done = dstream("providers", "pull", f"{registry.host}/acme/input:1")
    assert done.returncode == 1
    assert "failed verification" in done.stderr and "nothing was kept" in done.stderr
    assert cache_files(isolated_cache) == []
    assert not list((isolated_cache / "oci" / "tmp").iterdir())
    assert pushed["digest"]  # the manifest itself was fine; its layer was not


def test_basic_auth_with_htpasswd(auth_registry: Registry, tmp_path: Path) -> None:
    ref = f"{auth_registry.host}/private/input:1"
    script = executable(tmp_path / "in.sh", INPUT_SCRIPT)
    denied = dstream("providers", "push", f"{script}:{PLATFORM}", "--ref", ref)
    assert denied.returncode == 1
    assert "requires authentication" in denied.stderr and "docker login" in denied.stderr

    good = {"DSTREAM_REGISTRY_USERNAME": "alice", "DSTREAM_REGISTRY_PASSWORD": "s3cret-pass"}
    done = dstream("providers", "push", f"{script}:{PLATFORM}", "--ref", ref, env=good)
    assert done.returncode == 0, done.stderr

    bad = {"DSTREAM_REGISTRY_USERNAME": "alice", "DSTREAM_REGISTRY_PASSWORD": "wrong-pass"}
    refused = dstream("providers", "pull", ref, env=bad)
    assert refused.returncode == 1
    assert "refused the credentials of user 'alice'" in refused.stderr
    assert "wrong-pass" not in refused.stderr + refused.stdout

    # The Docker config file, as `docker login` writes it.
    docker_dir = Path(os.environ["DOCKER_CONFIG"])
    docker_dir.mkdir(exist_ok=True)
    token = base64.b64encode(b"alice:s3cret-pass").decode()
    (docker_dir / "config.json").write_text(
        json.dumps({"auths": {auth_registry.host: {"auth": token}}})
    )
    code, doc, err = dstream_json("providers", "pull", ref)
    assert code == 0, err
    assert Path(doc["path"]).read_text() == INPUT_SCRIPT


def test_two_repositories_with_the_same_last_segment_do_not_collide(
    registry: Registry, tmp_path: Path
) -> None:
    push(tmp_path, f"{registry.host}/team-a/counter:1", INPUT_SCRIPT.replace("${TAG:-x}", "a"))
    push(tmp_path, f"{registry.host}/team-b/counter:1", INPUT_SCRIPT.replace("${TAG:-x}", "b"))
    a = resolve_provider_ref(f"{registry.host}/team-a/counter:1")
    b = resolve_provider_ref(f"{registry.host}/team-b/counter:1")
    assert a != b
    assert '"a"' in a.read_text() and '"b"' in b.read_text()
    # and again from the cache
    assert resolve_provider_ref(f"{registry.host}/team-a/counter:1").read_text() == a.read_text()


def test_a_cached_task_runs_with_the_registry_stopped(registry: Registry, tmp_path: Path) -> None:
    push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT)
    push(tmp_path, f"{registry.host}/acme/output:1", OUTPUT_SCRIPT, name="out.sh")
    out = tmp_path / "o.jsonl"
    config = task_config(
        tmp_path, f"{registry.host}/acme/input:1", f"{registry.host}/acme/output:1", out
    )
    assert len(run_task(config)) == 5
    registry.stop()
    out.unlink()
    assert len(run_task(config)) == 5
    # a tag due for a re-check still runs from the cache, with a warning
    out.unlink()
    done = dstream("run", "t", "-c", str(config), env={"DSTREAM_PROVIDER_MAX_AGE": "0"})
    assert done.returncode == 0, done.stderr
    assert "cannot reach registry" in done.stderr and "using" in done.stderr
    # a log line like any other: a record with -f json, hidden by -l error
    out.unlink()
    as_json = dstream(
        "run", "t", "-c", str(config), "-f", "json", env={"DSTREAM_PROVIDER_MAX_AGE": "0"}
    )
    assert as_json.returncode == 0, as_json.stderr
    records = [json.loads(line) for line in as_json.stderr.splitlines()]
    warnings = [r for r in records if "cannot reach registry" in r["msg"]]
    for ref in ("acme/input:1", "acme/output:1"):
        assert any(f"{ref} as cached" in r["msg"] for r in warnings), as_json.stderr
    assert all(r["level"] == "warning" for r in warnings), warnings
    out.unlink()
    quiet = dstream(
        "run", "t", "-c", str(config), "-l", "error", env={"DSTREAM_PROVIDER_MAX_AGE": "0"}
    )
    assert quiet.returncode == 0 and "cannot reach registry" not in quiet.stderr, quiet.stderr
    # but an explicit refresh says the registry is away
    refresh = dstream("providers", "pull", "--refresh", f"{registry.host}/acme/input:1")
    assert refresh.returncode == 1 and "cannot reach registry" in refresh.stderr


def test_a_tag_is_resolved_again_only_when_asked(registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.host}/acme/input:stable"
    one = push(tmp_path, ref, INPUT_SCRIPT.replace("${TAG:-x}", "one"))
    assert pull(ref).digest == one["digest"]
    two = push(tmp_path, ref, INPUT_SCRIPT.replace("${TAG:-x}", "two"))
    cached = pull(ref)
    assert cached.from_cache and cached.digest == one["digest"]
    refreshed = pull(ref, refresh=True)
    assert not refreshed.from_cache and refreshed.digest == two["digest"]
    push(tmp_path, ref, INPUT_SCRIPT.replace("${TAG:-x}", "three"))
    assert pull(ref, max_age=3600).digest == two["digest"]
    assert "three" in Path(pull(ref, max_age=0).path).read_text()


def test_multi_platform_index_picks_this_platform(registry: Registry) -> None:
    other = "windows/arm64" if PLATFORM != "windows/arm64" else "linux/s390x"
    index_push(
        registry.host, "acme/multi", "1", {other: b"other", PLATFORM: b"#!/bin/sh\necho mine\n"}
    )
    result = pull(f"{registry.host}/acme/multi:1")
    assert Path(result.path).read_bytes() == b"#!/bin/sh\necho mine\n"
    assert sorted(result.platforms) == sorted([other, PLATFORM])
    index_push(registry.host, "acme/multi", "2", {other: b"other"})
    with pytest.raises(Exception, match=f"no executable for {PLATFORM}; it has: {other}"):
        pull(f"{registry.host}/acme/multi:2")


def _tar(members: dict[str, bytes], *, link: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tar.addfile(info)
    return buf.getvalue()


def test_a_tar_layer_is_unpacked(registry: Registry, tmp_path: Path) -> None:
    archive = _tar({"bin/plugin": b"#!/bin/sh\necho from-tar\n", "README": b"docs"})
    oras_style_push(registry.host, "acme/tarred", "1", {"provider.tar.gz": archive})
    path = resolve_provider_ref(f"{registry.host}/acme/tarred:1")
    assert path.read_bytes() == b"#!/bin/sh\necho from-tar\n"
    assert os.access(path, os.X_OK)


@pytest.mark.parametrize(
    ("members", "link", "message"),
    [
        ({"../escape": b"x"}, None, "has a '..' component"),
        ({"/etc/evil": b"x"}, None, "is an absolute path"),
        ({"plugin": b"x"}, ("up", "../../outside"), "is a link to '../../outside', outside"),
        ({"plugin": b"x"}, ("abs", "/etc/passwd"), "is a link to the absolute path '/etc/pa"),
    ],
)
def test_an_archive_that_escapes_is_refused(
    registry: Registry, tmp_path: Path, isolated_cache: Path, members: dict, link, message: str
) -> None:
    oras_style_push(registry.host, "acme/evil", "1", {"provider.tgz": _tar(members, link=link)})
    done = dstream("providers", "pull", f"{registry.host}/acme/evil:1")
    assert done.returncode == 1
    assert message in done.stderr
    assert not (isolated_cache / "oci" / "unpacked").exists() or not any(
        (isolated_cache / "oci" / "unpacked").rglob("*")
    )
    assert not (isolated_cache / "oci" / "refs").exists() or not any(
        (isolated_cache / "oci" / "refs").iterdir()
    )
    assert not (tmp_path / "escape").exists() and not (isolated_cache / "escape").exists()


def test_list_rm_and_prune(registry: Registry, tmp_path: Path, isolated_cache: Path) -> None:
    push(tmp_path, f"{registry.host}/acme/a:1", INPUT_SCRIPT)
    push(tmp_path, f"{registry.host}/acme/b:1", OUTPUT_SCRIPT, name="o.sh")
    for name in ("a", "b"):
        assert dstream("providers", "pull", f"{registry.host}/acme/{name}:1").returncode == 0
    code, doc, _ = dstream_json("providers", "list")
    assert [p["reference"] for p in doc["providers"]] == [
        f"{registry.host}/acme/a:1",
        f"{registry.host}/acme/b:1",
    ]
    assert all(p["size"] > 0 and p["cached_platforms"] == [PLATFORM] for p in doc["providers"])
    human = dstream("providers", "list").stdout
    assert "REFERENCE" in human and f"{registry.host}/acme/a:1" in human

    refused = dstream("providers", "rm", f"{registry.host}/acme/a:1", "Bad/Ref")
    assert refused.returncode == 2 and "invalid provider reference 'Bad/Ref'" in refused.stderr
    code, doc, _ = dstream_json("providers", "list")  # nothing removed: every word is read first
    assert len(doc["providers"]) == 2

    code, doc, _ = dstream_json("providers", "rm", f"{registry.host}/acme/a:1")
    assert code == 0 and doc["bytes"] > 0 and doc["files"] > 0
    assert doc["removed"] == [f"{registry.host}/acme/a:1"] and doc["not_cached"] == []
    code, doc, _ = dstream_json("providers", "list")
    assert [p["reference"] for p in doc["providers"]] == [f"{registry.host}/acme/b:1"]
    missing = dstream("providers", "rm", f"{registry.host}/acme/zzz:1")
    assert missing.returncode == 2 and "not in the cache" in missing.stderr
    assert "freed" not in missing.stdout  # nothing was

    code, doc, _ = dstream_json("providers", "prune", "--all")
    assert code == 0
    assert cache_files(isolated_cache) == []


def test_pull_task_providers_for_init(registry: Registry, tmp_path: Path) -> None:
    push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT)
    task = TaskSpec(
        name="t",
        input=ProviderSpec(role="input", provider_ref=f"{registry.host}/acme/input:1"),
        output=ProviderSpec(role="output", provider_path="dstream-null"),
    )
    results = pull_task_providers(task, refresh=False)
    assert [(r["role"], r["kind"]) for r in results] == [("input", "provider_ref")]
    assert os.access(str(results[0]["path"]), os.X_OK)
    assert pull_task_providers(task, refresh=False)[0]["from_cache"] is True
    assert pull_task_providers(task, refresh=True)[0]["from_cache"] is False


def test_init_pull_then_the_task_runs_with_the_registry_stopped(
    registry: Registry, tmp_path: Path
) -> None:
    push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT)
    push(tmp_path, f"{registry.host}/acme/output:1", OUTPUT_SCRIPT, name="out.sh")
    out = tmp_path / "o.jsonl"
    config = task_config(
        tmp_path, f"{registry.host}/acme/input:1", f"{registry.host}/acme/output:1", out
    )
    done = dstream("init", "--pull", "t", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"pulled input {registry.host}/acme/input:1" in done.stderr
    assert f"pulled output {registry.host}/acme/output:1" in done.stderr
    registry.stop()
    assert len(run_task(config)) == 5  # everything came from the cache


def test_init_pull_says_cached_for_what_it_did_not_fetch(
    registry: Registry, tmp_path: Path
) -> None:
    """A second `init --pull` with the registry gone fetched nothing: each reference is
    said to be cached, never pulled."""
    push(tmp_path, f"{registry.host}/acme/input:1", INPUT_SCRIPT)
    push(tmp_path, f"{registry.host}/acme/output:1", OUTPUT_SCRIPT, name="out.sh")
    config = task_config(
        tmp_path, f"{registry.host}/acme/input:1", f"{registry.host}/acme/output:1",
        tmp_path / "o.jsonl",
    )  # fmt: skip
    assert dstream("init", "--pull", "t", "-c", str(config)).returncode == 0
    registry.stop()
    done = dstream("init", "--pull", "t", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"cached input {registry.host}/acme/input:1 (not pulled)" in done.stderr
    assert f"cached output {registry.host}/acme/output:1 (not pulled)" in done.stderr
    assert "pulled input" not in done.stderr and "pulled output" not in done.stderr


def test_a_pull_on_a_terminal_with_json_logs_draws_no_progress(
    registry: Registry, tmp_path: Path
) -> None:
    """With -f json every line on stderr is a record, on a terminal too: the pull's
    progress line (`pulling REF  1.2 MiB`, drawn over itself) is not drawn then."""
    ref = f"{registry.host}/acme/input:1"
    push(tmp_path, ref, INPUT_SCRIPT)
    ws = Workspace(tmp_path)
    shown = ws.on_a_terminal("providers", "pull", ref, "-f", "json", pipe_stdout=True)
    assert shown.returncode == 0, shown.screen
    assert b"pulled" in shown.stdout, shown.stdout
    assert "pulling" not in shown.screen, shown.screen
    for line in shown.screen.splitlines():
        assert isinstance(json.loads(line), dict), shown.screen
