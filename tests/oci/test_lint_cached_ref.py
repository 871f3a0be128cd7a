"""`dstream lint` checks the config of a provider_ref the cache holds, as plan and run
do; one not pulled yet it leaves to them (docs/cli.md). Real registry on loopback."""

from __future__ import annotations

import sys
from pathlib import Path

from dstream.oci.manifest import current_platform
from tests.containers import Registry
from tests.providers import SDK_INPUT
from tests.workspace import dstream, dstream_json, executable


def test_lint_checks_the_config_of_a_pulled_reference(registry: Registry, tmp_path: Path) -> None:
    ref = f"{registry.host}/acme/sdk-input:1"
    script = executable(tmp_path / "sdk_input", f"#!{sys.executable}\n{SDK_INPUT}")
    code, _, err = dstream_json("providers", "push", f"{script}:{current_platform()}", "--ref", ref)
    assert code == 0, err
    (tmp_path / "dstream.hcl").write_text(
        f'task "t" {{\n  input {{\n    provider_ref = "{ref}"\n    config {{ cuont = 2 }}\n'
        '  }\n  output { provider_path = "dstream-null" }\n}\n'
    )
    done = dstream("lint", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # not pulled: plan and run check it
    assert dstream("providers", "pull", ref, cwd=tmp_path).returncode == 0
    done = dstream("lint", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "dstream.hcl:4:14: unknown config key 'cuont'" in done.stderr, done.stderr
