"""`dstream providers inspect`'s text: a field the artifact does not have is shown as
`-` (an index has no artifact type), never as a Python value (`None`); `--json` keeps
it as null. The registry is tests/oci/hostile_registry.py (a real HTTP server on
loopback)."""

from __future__ import annotations

import json

from tests.oci.hostile_registry import LAYER, OCI_INDEX, running
from tests.workspace import dstream


def test_an_index_without_an_artifact_type_is_inspected_without_none() -> None:
    with running() as registry:
        layer = {**registry.blob("a/idx", b"#!/bin/sh\n"), "mediaType": LAYER}
        image = registry.image("a/idx", "image", [layer])
        entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image,
                 "size": len(registry.state.manifests[f"/v2/a/idx/manifests/{image}"][0]),
                 "platform": {"os": "linux", "architecture": "arm64"}}  # fmt: skip
        registry.manifest(
            "a/idx", "1", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
        )
        ref = f"{registry.host}/a/idx:1"
        done = dstream("providers", "inspect", ref)
        as_json = dstream("providers", "inspect", ref, "--json")
    assert done.returncode == 0, done.stderr
    assert "None" not in done.stdout, done.stdout
    assert "  artifact type -\n" in done.stdout, done.stdout
    assert "linux/arm64" in done.stdout, done.stdout
    assert json.loads(as_json.stdout)["artifact_type"] is None, as_json.stdout
