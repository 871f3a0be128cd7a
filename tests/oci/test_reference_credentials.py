"""A reference that holds a credential (`user:password@registry/...`) is refused, on the
command line and in dstream.hcl, by every command, and the credential shows nowhere:
credentials belong in DSTREAM_REGISTRY_* or a `docker login`. And lint parses every
provider_ref as a pull would."""

from __future__ import annotations

import pytest

from dstream.errors import ExitCode
from dstream.oci.reference import BadReference, parse_reference
from tests.workspace import CliResult, Workspace

SECRET = "S3cretPW-4711"
D = "sha256:" + "ab" * 32
WITH_CREDENTIALS = [
    f"alice:{SECRET}@127.0.0.1:5000/t/r:1",
    f"oci://alice:{SECRET}@ghcr.io/acme/r",
    f"{SECRET}@ghcr.io/acme/r:1",  # a token alone
    f"alice:{SECRET}@registry.example/acme/r@{D}",
    f"alice:p@ss/{SECRET}@registry.example/acme/r:1",  # `@` and `/` in the password
]


@pytest.mark.parametrize("text", WITH_CREDENTIALS)
def test_a_reference_with_a_credential_is_refused_masked(text: str) -> None:
    with pytest.raises(BadReference) as info:
        parse_reference(text)
    error = info.value
    assert error.exit_code == ExitCode.USAGE
    assert "holds a credential" in error.reason and "***@" in error.reason
    shown = f"{error.reason} {error.hint}"
    assert SECRET not in shown and "alice" not in shown, shown
    assert "DSTREAM_REGISTRY_USERNAME" in str(error.hint) and "docker login" in str(error.hint)


@pytest.mark.parametrize(
    "text", ["ghcr.io/acme/r@" + D, "counter@" + D, "localhost:5000/a/b:1", "oci://ghcr.io/a/b"]
)
def test_a_digest_is_no_credential(text: str) -> None:
    assert parse_reference(text).repository


def assert_masked(done: CliResult, code: int = 2) -> None:
    shown = done.stdout + done.stderr
    assert done.returncode == code, shown
    assert "holds a credential" in shown, shown
    assert SECRET not in shown and f"alice:{SECRET}" not in shown, shown
    assert "Traceback" not in shown


@pytest.mark.parametrize(
    "args",
    [
        ("providers", "pull", WITH_CREDENTIALS[0]),
        ("providers", "pull", WITH_CREDENTIALS[0], "--json"),
        ("providers", "inspect", WITH_CREDENTIALS[1]),
        ("providers", "inspect", WITH_CREDENTIALS[1], "--json"),
        ("providers", "rm", WITH_CREDENTIALS[2]),
    ],
)
def test_the_cli_refuses_a_reference_with_a_credential(
    ws: Workspace, args: tuple[str, ...]
) -> None:
    assert_masked(ws.run(*args))


@pytest.mark.parametrize("attribute", ["provider_ref", "provider_image"])
@pytest.mark.parametrize(
    "args",
    [
        ("run", "t"),
        ("list",),
        ("show", "t"),
        ("show", "t", "--json"),
        ("lint",),
        ("lint", "--json"),
    ],
)
def test_a_configuration_with_a_credential_in_a_reference_is_refused_where_it_is_written(
    ws: Workspace, attribute: str, args: tuple[str, ...]
) -> None:
    ws.config(
        f"""
        task "t" {{
          input  {{ {attribute} = "{WITH_CREDENTIALS[0]}" }}
          output {{ provider_path = "dstream-null" }}
        }}
        """
    )
    done = ws.run(*args)
    assert_masked(done)
    assert "dstream.hcl:3:" in done.stdout + done.stderr


def test_lint_parses_every_provider_ref(ws: Workspace) -> None:
    ws.config(
        """
        task "t" {
          input  { provider_ref = "127.0.0.1:5000/Acme/counter:1" }
          output { provider_path = "dstream-null" }
        }
        """
    )
    done = ws.run("lint")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "repository names must be lowercase" in done.stderr
    assert "dstream.hcl:3:" in done.stderr
