"""Which file of a provider archive runs: `plugin` (or `provider`) may be a link to an
executable elsewhere in the archive, as docs/oci.md allows links that stay inside; and
when nothing is clearly it, the hint lists every name that would be."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from tests.containers import Registry
from tests.oci.rawpush import oras_style_push
from tests.workspace import dstream_json

SCRIPT = b"#!/bin/sh\necho from-counter\n"
TGZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def tgz(files: dict[str, bytes], links: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return gzip.compress(out.getvalue())


@pytest.mark.parametrize(
    "links",
    [
        {"plugin": "bin/counter"},
        {"provider": "./bin/counter"},
        {"plugin": "bin/run", "bin/run": "counter"},  # a link to a link, still inside
    ],
)
def test_plugin_may_be_a_link_to_the_executable_inside(
    registry: Registry, links: dict[str, str]
) -> None:
    layer = tgz({"bin/counter": SCRIPT, "README": b"docs\n"}, links)
    oras_style_push(registry.host, "acme/linked", "1", {"prov.tgz": layer}, layer_type=TGZ)
    for _ in range(2):  # pulled, then served from the cache (checked again)
        code, doc, err = dstream_json("providers", "pull", f"{registry.host}/acme/linked:1")
        assert code == 0, err
        assert Path(doc["path"]).read_bytes() == SCRIPT


def test_the_hint_lists_every_name_that_would_be_the_executable(registry: Registry) -> None:
    layer = tgz({"bin/counter": SCRIPT, "README": b"docs\n"}, {})
    oras_style_push(registry.host, "acme/unnamed", "1", {"prov.tgz": layer}, layer_type=TGZ)
    code, doc, err = dstream_json("providers", "pull", f"{registry.host}/acme/unnamed:1")
    assert code == 1, err
    for name in ("plugin", "provider", "plugin.exe", "provider.exe"):
        assert f"`{name}`" in doc["hint"], doc
