"""What a registry names reaches dstream's lines: a platform's `os` and `architecture`
in an index, a layer's title, the fields of its provider.json. One holding a line
break, a carriage return or an escape sequence could print a line that passes for one
of dstream's (`✅ Task "t" executed successfully`, `error: ...`): a platform or title
holding one is refused as a malformed artifact (exit 1, naming the field, the value
shown with escapes), before anything is downloaded on its word; `providers inspect`
shows provider.json's fields with escapes (docs/oci.md)."""

from __future__ import annotations

import json

import pytest

from dstream.oci.manifest import current_platform
from tests.containers import Registry
from tests.oci.rawpush import index_push, oras_style_push
from tests.workspace import CliResult, Workspace, dstream

PLATFORM = current_platform()
FAKE = '✅ Task "t" executed successfully'
HOSTILE_OS = f"windows\n{FAKE}\x1b[31m"
HOSTILE_ARCH = "arm\r\nerror: fake line"
HOSTILE_TITLE = f"plugin.{PLATFORM.replace('/', '_')}\n\x1b[32m✅ signature verified"


def assert_shown_safely(done: CliResult) -> None:
    """Nothing a terminal obeys, and no line that passes for one of dstream's."""
    text = done.stdout_bytes + done.stderr_bytes
    assert b"\x1b" not in text and b"\r" not in text, text
    lines = (done.stdout + done.stderr).splitlines()
    fakes = ("✅", "error: fake", "\x1b")
    assert not [line for line in lines if line.lstrip().startswith(fakes)], lines


def assert_refused(done: CliResult, field: str, shown: str) -> None:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert_shown_safely(done)
    error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1, done.stderr
    assert field in error[0] and "control characters" in error[0], error
    assert shown in error[0], (shown, error)
    assert "  hint: " in done.stderr, done.stderr


@pytest.fixture
def hostile_index(registry: Registry) -> str:
    index_push(
        registry.host,
        "evil/idx",
        "1",
        {f"{HOSTILE_OS}/amd64": b"x", f"linux/{HOSTILE_ARCH}": b"y"},
    )
    return f"{registry.host}/evil/idx:1"


def test_run_refuses_an_index_whose_platform_holds_control_characters(
    hostile_index: str, ws: Workspace
) -> None:
    ws.config(
        f"""
        task "t" {{
          input  {{ provider_ref = "{hostile_index}" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    done = ws.run("run", "t", "--state-dir", "st")
    assert_refused(done, "manifests[0].platform.os", "'windows\\n✅ Task")


@pytest.mark.parametrize("command", ["pull", "inspect"])
def test_providers_refuse_an_index_whose_platform_holds_control_characters(
    hostile_index: str, command: str
) -> None:
    done = dstream("providers", command, hostile_index)
    assert_refused(done, "manifests[0].platform.os", "\\x1b[31m")


@pytest.mark.parametrize("command", ["pull", "inspect"])
def test_a_layer_title_holding_control_characters_is_refused(
    registry: Registry, command: str
) -> None:
    oras_style_push(registry.host, "evil/title", "1", {HOSTILE_TITLE: b"#!/bin/sh\n"})
    done = dstream("providers", command, f"{registry.host}/evil/title:1")
    assert_refused(done, "layers[0].annotations['org.opencontainers.image.title']", "\\n\\x1b[32m")


def test_inspect_shows_provider_json_s_fields_escaped(registry: Registry) -> None:
    meta = {"name": f"orig\n{FAKE}", "version": "1\x1b[8m", "role": "input\r\nerror: fake"}
    files = {
        f"plugin.{PLATFORM.replace('/', '_')}": b"#!/bin/sh\n",
        "provider.json": json.dumps(meta).encode(),
    }
    oras_style_push(registry.host, "evil/meta", "1", files)
    done = dstream("providers", "inspect", f"{registry.host}/evil/meta:1")
    assert done.returncode == 0, done.stderr
    assert_shown_safely(done)
    assert f"name=orig\\n{FAKE}, version=1\\x1b[8m, role=input\\r\\nerror: fake" in done.stdout
