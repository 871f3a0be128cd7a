"""The provider_ref grammar, table-driven: what parses to what, and what is refused
with which message."""

from __future__ import annotations

from typing import Optional

import pytest

from dstream.oci.reference import BadReference, parse_reference, uses_plain_http

D = "sha256:" + "ab" * 32

VALID: list[tuple[str, str, str, Optional[str], Optional[str], str]] = [
    # text, registry, repository, tag, digest, canonical
    (
        "ghcr.io/acme/counter:1.0",
        "ghcr.io",
        "acme/counter",
        "1.0",
        None,
        "ghcr.io/acme/counter:1.0",
    ),
    (
        "ghcr.io/acme/counter",
        "ghcr.io",
        "acme/counter",
        "latest",
        None,
        "ghcr.io/acme/counter:latest",
    ),
    (
        "localhost:5000/counter:v1",
        "localhost:5000",
        "counter",
        "v1",
        None,
        "localhost:5000/counter:v1",
    ),
    (
        "127.0.0.1:5000/a/b/c/d:t",
        "127.0.0.1:5000",
        "a/b/c/d",
        "t",
        None,
        "127.0.0.1:5000/a/b/c/d:t",
    ),
    (f"ghcr.io/acme/counter@{D}", "ghcr.io", "acme/counter", None, D, f"ghcr.io/acme/counter@{D}"),
    (
        f"ghcr.io/acme/counter:1.0@{D}",
        "ghcr.io",
        "acme/counter",
        "1.0",
        D,
        f"ghcr.io/acme/counter:1.0@{D}",
    ),
    (f"localhost:5000/x@{D}", "localhost:5000", "x", None, D, f"localhost:5000/x@{D}"),
    ("counter", "docker.io", "library/counter", "latest", None, "docker.io/library/counter:latest"),
    ("acme/counter:2", "docker.io", "acme/counter", "2", None, "docker.io/acme/counter:2"),
    # Docker Hub by any of its names: one registry, single names under library/
    (
        "docker.io/counter",
        "docker.io",
        "library/counter",
        "latest",
        None,
        "docker.io/library/counter:latest",
    ),
    (
        "index.docker.io/counter:1",
        "docker.io",
        "library/counter",
        "1",
        None,
        "docker.io/library/counter:1",
    ),
    (
        "registry-1.docker.io/acme/counter",
        "docker.io",
        "acme/counter",
        "latest",
        None,
        "docker.io/acme/counter:latest",
    ),
    (
        "docker.io/library/counter",
        "docker.io",
        "library/counter",
        "latest",
        None,
        "docker.io/library/counter:latest",
    ),
    ("localhost/counter", "localhost", "counter", "latest", None, "localhost/counter:latest"),
    ("[::1]:5000/counter:1", "[::1]:5000", "counter", "1", None, "[::1]:5000/counter:1"),
    (
        "oci://ghcr.io/acme/counter:1",
        "ghcr.io",
        "acme/counter",
        "1",
        None,
        "ghcr.io/acme/counter:1",
    ),
    (
        "reg.example.com/a.b/c_d/e__f/g-h--i:Tag_1.x-y",
        "reg.example.com",
        "a.b/c_d/e__f/g-h--i",
        "Tag_1.x-y",
        None,
        "reg.example.com/a.b/c_d/e__f/g-h--i:Tag_1.x-y",
    ),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest", "canonical"), VALID)
def test_valid_references(
    text: str,
    registry: str,
    repository: str,
    tag: Optional[str],
    digest: Optional[str],
    canonical: str,
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )
    assert str(ref) == canonical
    assert parse_reference(str(ref)) == ref  # canonical text round-trips
    assert ref.target == (digest or tag or "latest")


INVALID: list[tuple[str, str]] = [
    ("", "empty provider reference"),
    ("ghcr.io/Acme/counter", "repository component 'Acme': repository names must be lowercase"),
    ("ghcr.io/acme/counter:", "tag '' must be 1-128 characters"),
    ("ghcr.io/acme/counter:-x", "tag '-x' must be 1-128 characters"),
    ("ghcr.io/acme/counter:" + "t" * 129, "must be 1-128 characters"),
    ("ghcr.io/acme/counter@sha256:abc", "digest 'sha256:abc' is not sha256:<64 lowercase hex"),
    ("ghcr.io/acme/counter@md5:" + "a" * 32, "digest algorithm 'md5' is not supported"),
    ("ghcr.io/acme/counter@sha256:" + "AB" * 32, "is not sha256:<64 lowercase hex"),
    ("localhost:99999/counter", "port '99999' of registry 'localhost:99999' is not a number"),
    ("localhost:port/counter:1", "port 'port' of registry"),
    ("ghcr.io//counter", "empty repository path component"),
    ("ghcr.io/acme/", "empty repository path component"),
    ("ghcr.io/acme/coun ter", "contains whitespace"),
    ("ghcr.io/acme/-counter", "repository component '-counter': only lowercase letters"),
    ("ghcr.io/acme/counter..x", "repository component 'counter..x'"),
    ("-bad.io/acme/counter", "'-bad.io' is not a valid registry host name"),
    ("[zz]:5000/counter", "'[zz]:5000' is not a valid IPv6 registry"),
    ("ghcr.io/" + "a" * 260, "name longer than 255 characters"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(BadReference) as info:
        parse_reference(text)
    assert message in info.value.reason
    assert info.value.hint and "repository" in info.value.hint


@pytest.mark.parametrize(
    ("registry", "insecure", "plain"),
    [
        ("localhost:5000", False, True),
        ("127.0.0.1:5000", False, True),
        ("127.5.0.1", False, True),
        ("[::1]:5000", False, True),
        ("ghcr.io", False, False),
        ("registry.internal:5000", False, False),
        ("registry.internal:5000", True, True),
    ],
)
def test_plain_http_only_for_loopback_or_opt_in(registry: str, insecure: bool, plain: bool) -> None:
    assert uses_plain_http(registry, insecure) is plain


def test_insecure_registries_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSTREAM_INSECURE_REGISTRIES", "a.internal:5000, b.internal")
    assert uses_plain_http("b.internal")
    assert uses_plain_http("a.internal:5000")
    assert not uses_plain_http("a.internal")
