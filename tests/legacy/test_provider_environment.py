"""An original provider that reads its settings from the environment (Azure's
DefaultAzureCredential reads AZURE_*, a .NET one DOTNET_*, TLS code SSL_CERT_FILE).
The original started providers with dstream's whole environment; dstream passes an
allow-list (docs/security.md, "The provider environment"), so such a provider fails at
its start. What it needs goes in `inherit_env`, and the error of a provider that dies
before its handshake says so when its block passes nothing beyond the allow-list (in a run:
init, plan, status and destroy show their own hint)."""

from __future__ import annotations

from tests.workspace import Workspace

# Fails as DefaultAzureCredential does without its variables: before any stdout line.
NEEDS_AZURE = """
if [ -z "$AZURE_CLIENT_ID" ]; then
  echo "DefaultAzureCredential failed to retrieve a token: EnvironmentCredential unavailable" >&2
  exit 1
fi
read -r command
echo '{"status":"ready"}'
echo '{"data":{"n":1},"metadata":{}}'
"""
HINT_WORDS = 'inherit_env = ["NAME"]'


def _task(ws: Workspace, input_lines: str) -> None:
    ws.script("in.sh", NEEDS_AZURE)
    ws.config(
        f"""
        task "t" {{
          input {{
            provider_path = "./in.sh"
            {input_lines}
          }}
          output {{
            provider_path = "dstream-file"
            config {{ path = "out.jsonl" }}
          }}
        }}
        """
    )


def test_a_provider_that_dies_at_its_start_with_only_the_allow_list_names_inherit_env(
    ws: Workspace,
) -> None:
    _task(ws, "")
    done = ws.run("run", "t", env={"AZURE_CLIENT_ID": "abc"})
    assert done.returncode == 1, done.stderr
    assert "error: input './in.sh' exited with code 1 before its handshake" in done.stderr
    hint = done.stderr[done.stderr.index("  hint: ") :]
    assert HINT_WORDS in hint, done.stderr
    assert "docs/migrating.md" in hint


def test_inherit_env_is_what_such_a_provider_needs(ws: Workspace) -> None:
    _task(ws, 'inherit_env = ["AZURE_CLIENT_ID"]')
    done = ws.run("run", "t", env={"AZURE_CLIENT_ID": "abc"})
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("out.jsonl")) == 1


def test_a_block_that_passes_environment_gets_no_such_hint(ws: Workspace) -> None:
    _task(ws, 'env = { REGION = "westeurope" }')
    done = ws.run("run", "t", env={"AZURE_CLIENT_ID": "abc"})
    assert done.returncode == 1, done.stderr
    assert "before its handshake" in done.stderr
    assert "inherit_env" not in done.stderr


def test_an_output_that_dies_at_its_start_names_inherit_env_too(ws: Workspace) -> None:
    """An output's first line is read beside the stream, so its early death is judged
    as leaving the stream: the hint named only its stderr (the original's Service Bus
    output fails this way after a migration)."""
    ws.script("out.sh", NEEDS_AZURE)
    ws.config(
        """
        task "t" {
          input {
            provider_path = "dstream-counter"
            config { max_count = 3 }
          }
          output { provider_path = "./out.sh" }
        }
        """
    )
    done = ws.run("run", "t", env={"AZURE_CLIENT_ID": "abc"})
    assert done.returncode == 1, done.stderr
    assert "error: output './out.sh' exited with code 1" in done.stderr, done.stderr
    hint = done.stderr[done.stderr.index("  hint: ") :]
    assert HINT_WORDS in hint and "docs/migrating.md" in hint, done.stderr
