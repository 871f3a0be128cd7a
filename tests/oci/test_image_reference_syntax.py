"""A provider_image is checked against the reference grammar where the configuration is
read (lint, list, show, run): a typo is a configuration error at its line, exit 2, not
the container engine's answer at run time under a hint about the engine not running."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

INVALID = {
    "localhost/Rat-In:1": "repository component 'Rat-In': repository names must be lowercase",
    "localhost/rat-in:1 ": "it contains whitespace",
    "localhost/rat-in:-1": "tag '-1' must be",
    "localhost:99999/rat-in:1": "port '99999'",
}
VALID = [
    "busybox",
    "localhost/rat-in:1",
    "docker.io/library/busybox:1.36",
    "[::1]:5000/acme/rat-in",
    "ghcr.io/acme/rat-in@sha512:" + "ab" * 64,  # an engine may know sha512
]


def configure(ws: Workspace, image: str) -> None:
    ws.config(
        f"""
        task "t" {{
          input  {{ provider_image = "{image}" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )


@pytest.mark.parametrize("args", [("lint",), ("list",), ("show", "t"), ("run", "t")])
@pytest.mark.parametrize("image", sorted(INVALID))
def test_an_invalid_provider_image_is_refused_where_it_is_written(
    ws: Workspace, image: str, args: tuple[str, ...]
) -> None:
    configure(ws, image)
    done = ws.run(*args)
    shown = done.stdout + done.stderr
    assert done.returncode == 2, shown
    assert "dstream.hcl:3:" in shown, shown
    assert f'provider_image {image!r} in input of task "t" is not a valid' in shown, shown
    assert INVALID[image] in shown, shown
    assert "hint: write it as [registry[:port]/]repository" in shown, shown
    assert "DOCKER_HOST" not in shown and "Traceback" not in shown, shown


@pytest.mark.parametrize("image", VALID)
def test_a_valid_provider_image_is_read(ws: Workspace, image: str) -> None:
    configure(ws, image)
    done = ws.run("list")
    assert done.returncode == 0, done.stdout + done.stderr
