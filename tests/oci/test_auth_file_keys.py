"""Which entry of an auth file holds a registry's credentials: podman's auth.json may
key them by a repository namespace (`podman login host/acme`), the most specific key
wins (containers-auth.json(5)); Docker's config may key them by a URL
(`http://host/v2/`), which counts as its host, as the Docker CLI reads it. And when
DSTREAM_REGISTRY_USERNAME/PASSWORD are not used, the hint says why."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.oci.auth import find_credentials
from dstream.oci.reference import DOCKER_HUB
from tests.oci.hostile_registry import HostileRegistry, running
from tests.oci.test_registry_credentials import PASSWORD, USER, private_image
from tests.workspace import dstream

WRONG = "not-the-password"


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


def auth_file(tmp_path: Path, entries: dict[str, str]) -> dict[str, str]:
    """A podman auth.json of key -> password (all for USER); no Docker config."""
    path = tmp_path / "auth.json"
    auths = {
        key: {"auth": base64.b64encode(f"{USER}:{password}".encode()).decode()}
        for key, password in entries.items()
    }
    path.write_text(json.dumps({"auths": auths}))
    return {"REGISTRY_AUTH_FILE": str(path), "DOCKER_CONFIG": str(tmp_path / "none")}


def docker_config(tmp_path: Path, key: str) -> dict[str, str]:
    folder = tmp_path / "docker"
    folder.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {key: {"auth": auth}}}))
    return {"DOCKER_CONFIG": str(folder)}


def pull(registry: HostileRegistry, env: dict[str, str], repo: str = "acme/sub/p") -> object:
    return dstream("providers", "pull", f"{registry.host}/{repo}:1", env=env)


@pytest.mark.parametrize(
    "keys",
    [
        ["{host}/acme"],  # what `podman login host/acme` writes
        ["{host}/acme/sub/p"],
        ["{host}/acme/sub"],
        # the most specific key wins, whatever else is there
        ["{host}/acme/sub/p", "{host}/acme=wrong", "{host}=wrong"],
        ["{host}/acme", "{host}=wrong"],
        ["{host}/acme/sub", "{host}/acme=wrong", "{host}/acme/other=wrong"],
    ],
)
def test_auth_json_keys_by_namespace_most_specific_first(
    registry: HostileRegistry, tmp_path: Path, keys: list[str]
) -> None:
    private_image(registry, "acme/sub/p")
    entries = {}
    for key in keys:
        name, _, wrong = key.format(host=registry.host).partition("=")
        entries[name] = WRONG if wrong else PASSWORD
    done = pull(registry, auth_file(tmp_path, entries))
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("key", ["{host}/other", "{host}/acme/s", "{host}/acme/sub/p/more"])
def test_a_namespace_key_of_another_repository_is_not_used(
    registry: HostileRegistry, tmp_path: Path, key: str
) -> None:
    private_image(registry, "acme/sub/p")
    done = pull(registry, auth_file(tmp_path, {key.format(host=registry.host): PASSWORD}))
    assert done.returncode == 1
    assert "requires authentication" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "key", ["http://{host}/v2/", "https://{host}/v1/", "http://{host}", "https://{host}/"]
)
def test_docker_config_url_keys_count_as_their_host(
    registry: HostileRegistry, tmp_path: Path, key: str
) -> None:
    private_image(registry, "acme/p")
    done = pull(registry, docker_config(tmp_path, key.format(host=registry.host)), "acme/p")
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "docker.io/library"]
)
def test_docker_hub_keys_in_any_spelling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    for name, value in docker_config(tmp_path, key).items():
        monkeypatch.setenv(name, value)
    found = find_credentials(DOCKER_HUB, "library/counter")
    assert found is not None and (found.username, found.password) == (USER, PASSWORD)
    other = find_credentials(DOCKER_HUB, "acme/counter")  # outside docker.io/library
    assert (other is None) == (key == "docker.io/library")


def test_the_hint_says_the_variables_are_for_another_host(
    registry: HostileRegistry, tmp_path: Path
) -> None:
    private_image(registry, "acme/p")
    env = {
        "DSTREAM_REGISTRY_USERNAME": USER,
        "DSTREAM_REGISTRY_PASSWORD": PASSWORD,
        "DSTREAM_REGISTRY_HOST": "ghcr.io, other.example:5000",
    }
    done = pull(registry, env, "acme/p")
    assert done.returncode == 1
    assert "requires authentication" in done.stderr
    assert "DSTREAM_REGISTRY_HOST" in done.stderr and registry.host in done.stderr
    assert "set DSTREAM_REGISTRY_USERNAME and" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ("DSTREAM_REGISTRY_USERNAME", "DSTREAM_REGISTRY_PASSWORD"),
        ("DSTREAM_REGISTRY_PASSWORD", "DSTREAM_REGISTRY_USERNAME"),
    ],
)
def test_the_hint_says_which_variable_is_missing(
    registry: HostileRegistry, present: str, missing: str
) -> None:
    private_image(registry, "acme/p")
    done = pull(registry, {present: "x"}, "acme/p")
    assert done.returncode == 1
    assert f"{missing} is not set" in done.stderr, done.stderr
