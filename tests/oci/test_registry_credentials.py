"""Where the registry's credentials go, and where they never show.

They go to the registry's own origin and to the token service its own challenge
names; never to a host a redirect leads to (a pre-signed storage URL is fetched without
any, and its challenge is not answered). Whatever their source (environment, Docker
config, podman auth.json, a credential helper) and the bearer tokens fetched with them,
no output shows them, not even a registry's error body that echoes them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dstream.oci.auth import Challenge, Credentials
from dstream.oci.client import RegistryClient, RegistryError
from tests.oci.hostile_registry import (
    LAYER,
    HostileRegistry,
    echo_authorization,
    redirect,
    requiring,
    running,
    token_service,
)
from tests.workspace import dstream, dstream_json, executable

GOOD = b"#!/bin/sh\necho GOOD\n"
USER, PASSWORD = "bob", "Zq9-pa55word"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
ENV = {"DSTREAM_REGISTRY_USERNAME": USER, "DSTREAM_REGISTRY_PASSWORD": PASSWORD}


@pytest.fixture
def registry() -> Iterator[HostileRegistry]:
    with running() as server:
        yield server


@pytest.fixture
def storage() -> Iterator[HostileRegistry]:
    """Another host: the registry's blob storage, or an auth service."""
    with running() as server:
        yield server


def private_image(registry: HostileRegistry, repo: str = "t/p") -> str:
    """An image behind basic auth; returns the path of its one blob."""
    layer = {**registry.blob(repo, GOOD), "mediaType": LAYER}
    registry.image(repo, "1", [layer])
    registry.behave(f"/v2/{repo}/manifests/1", requiring('Basic realm="r"', BASIC))
    return f"/v2/{repo}/blobs/{layer['digest']}"


def authorizations(server: HostileRegistry) -> list[str]:
    return [s.headers["authorization"] for s in server.seen if "authorization" in s.headers]


# -- 3: credentials never follow a redirect ----------------------------------------------


def test_a_challenge_from_the_host_a_blob_redirects_to_is_not_answered(
    registry: HostileRegistry, storage: HostileRegistry
) -> None:
    """The storage host answers 401 with a Bearer challenge naming its own realm: the
    registry's credentials must not go there (before the fix, its token service got
    them as Basic auth, in plain HTTP)."""
    blob = private_image(registry)
    registry.behave(
        blob, requiring('Basic realm="r"', BASIC, redirect(f"http://{storage.host}/b?sig=1"))
    )
    storage.behave("/b", requiring(f'Bearer realm="http://{storage.host}/token",service="s"'))
    storage.behave("/token", token_service("tok-storage"))
    done = dstream("providers", "pull", f"{registry.host}/t/p:1", env=ENV)
    assert authorizations(storage) == []
    assert "/token" not in [s.path.split("?")[0] for s in storage.seen]
    assert done.returncode == 1, done.stderr
    assert storage.host in done.stderr and "does not send the registry's credentials" in done.stderr


def test_a_presigned_redirect_is_fetched_without_credentials(
    registry: HostileRegistry, storage: HostileRegistry
) -> None:
    blob = private_image(registry)
    storage.state.blobs["/presigned/blob"] = GOOD
    registry.behave(
        blob,
        requiring('Basic realm="r"', BASIC, redirect(f"http://{storage.host}/presigned/blob?X=1")),
    )
    code, doc, err = dstream_json("providers", "pull", f"{registry.host}/t/p:1", env=ENV)
    assert code == 0, err
    assert Path(doc["path"]).read_bytes() == GOOD
    assert [s.path for s in storage.seen] == ["/presigned/blob?X=1"]
    assert authorizations(storage) == []


def test_a_token_service_the_registry_names_on_another_host_gets_the_credentials(
    registry: HostileRegistry, storage: HostileRegistry
) -> None:
    """Like auth.docker.io for registry-1.docker.io: the registry's own challenge names
    the realm, so the credentials go there."""
    layer = {**registry.blob("t/p", GOOD), "mediaType": LAYER}
    registry.image("t/p", "1", [layer])
    challenge = f'Bearer realm="http://{storage.host}/token",service="reg"'
    for path in ("/v2/t/p/manifests/1", f"/v2/t/p/blobs/{layer['digest']}"):
        registry.behave(path, requiring(challenge, "Bearer tok-for-bob"))
    storage.behave("/token", requiring('Basic realm="auth"', BASIC, token_service("tok-for-bob")))
    code, doc, err = dstream_json("providers", "pull", f"{registry.host}/t/p:1", env=ENV)
    assert code == 0, err
    assert Path(doc["path"]).read_bytes() == GOOD
    assert set(authorizations(storage)) == {BASIC}
    assert set(authorizations(registry)) == {"Bearer tok-for-bob"}


def test_credentials_go_to_a_token_service_only_over_https() -> None:
    """An https registry naming a plain-HTTP realm: the password would cross the
    network in clear. (No TLS registry here: the client decides before any request.)"""
    client = RegistryClient("registry.example", credentials=Credentials(USER, PASSWORD, "test"))
    plain = Challenge("bearer", {"realm": "http://auth.example/token"})
    with pytest.raises(RegistryError, match="only to an https:// token service"):
        client._realm(plain)
    assert client._realm(Challenge("bearer", {"realm": "https://auth.example/t"})).startswith(
        "https://"
    )


# -- 4: credentials and tokens from every source are masked ------------------------------


def docker_config(tmp_path: Path, host: str, entry: dict[str, str]) -> dict[str, str]:
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    return {"DOCKER_CONFIG": str(folder)}


def credential_helper(tmp_path: Path, host: str, secret: str) -> dict[str, str]:
    """docker-credential-dstreamtest on PATH, named by the Docker config's credHelpers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = json.dumps({"ServerURL": host, "Username": USER, "Secret": secret})
    executable(bin_dir / "docker-credential-dstreamtest", f"#!/bin/sh\necho '{answer}'\n")
    folder = tmp_path / "docker"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"credHelpers": {host: "dstreamtest"}}))
    import os

    return {"DOCKER_CONFIG": str(folder), "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def podman_auth(tmp_path: Path, host: str, secret: str) -> dict[str, str]:
    path = tmp_path / "auth.json"
    auth = base64.b64encode(f"{USER}:{secret}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return {"REGISTRY_AUTH_FILE": str(path), "DOCKER_CONFIG": str(tmp_path / "none")}


SOURCES = {
    "docker-auth": lambda tmp, host, secret: docker_config(
        tmp, host, {"auth": base64.b64encode(f"{USER}:{secret}".encode()).decode()}
    ),
    "docker-username-password": lambda tmp, host, secret: docker_config(
        tmp, host, {"username": USER, "password": secret}
    ),
    "docker-identity-token": lambda tmp, host, secret: docker_config(
        tmp, host, {"identitytoken": secret}
    ),
    "credential-helper": credential_helper,
    "podman-auth-json": podman_auth,
}


@pytest.mark.parametrize(
    ("source", "status", "secret"),
    [
        ("docker-auth", 403, PASSWORD),
        ("docker-auth", 500, "pw1"),  # short: its base64 is found only as part of the whole
        ("docker-username-password", 404, PASSWORD),
        ("docker-identity-token", 500, "eyJhbGciOi-identity-9f8e"),
        ("credential-helper", 403, PASSWORD),
        ("podman-auth-json", 404, PASSWORD),
    ],
)
def test_an_error_body_echoing_the_credentials_shows_none_of_them(
    registry: HostileRegistry, tmp_path: Path, source: str, status: int, secret: str
) -> None:
    registry.behave(
        "/v2/t/p/manifests/1", requiring('Basic realm="r"', None, echo_authorization(status))
    )
    env = SOURCES[source](tmp_path, registry.host, secret)
    user = "<token>" if source == "docker-identity-token" else USER
    encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
    for json_flag in ((), ("--json",)):
        done = dstream("providers", "pull", f"{registry.host}/t/p:1", *json_flag, env=env)
        assert done.returncode == 1, done.stderr
        shown = done.stdout + done.stderr
        assert "proxy error" in shown, shown  # the body is quoted, masked
        for leak in (secret, f"{user}:{secret}", encoded):
            assert leak not in shown, (leak, shown)
    assert set(authorizations(registry)) == {f"Basic {encoded}"}  # they were used


def test_a_bearer_token_echoed_by_the_registry_is_masked(registry: HostileRegistry) -> None:
    token = "tok-Secret-4711-abcdef"
    challenge = f'Bearer realm="http://{registry.host}/token",service="reg"'
    registry.behave("/token", token_service(token))
    registry.behave(
        "/v2/t/p/manifests/1", requiring(challenge, f"Bearer {token}", echo_authorization(404))
    )
    done = dstream("providers", "pull", f"{registry.host}/t/p:1")
    assert done.returncode == 1, done.stderr
    assert "proxy error" in done.stderr and token not in done.stdout + done.stderr, done.stderr
