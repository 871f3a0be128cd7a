"""A review of the widened secret rules: ordinary names that contain a credential's word
(auth_source, pass_through, sig_alg) are no secrets, nor is the word after "Token" in
"token bucket"; a password inside a JDBC, ADO.NET, keyword or SAS string under any key
is left out of the digests as the redactor masks it; `provider test --env` masks a URL's
password as `run` does; an unparseable DSN's quotation with a `"` in it shows nothing."""

from __future__ import annotations

import json

import pytest

from dstream.config.connstr import embedded_secrets, is_secret_key
from dstream.config.loader import load_project_text
from dstream.config.model import Project
from dstream.runtime.resume import digest_with_secrets, input_digest
from dstream.runtime.taking import definition_hash
from tests.cli.test_input_digest_secrets import INPUT  # resumes at its stored seq
from tests.security.test_leak_state_dsn import CONFIG as STATE_DSN_CONFIG
from tests.workspace import Workspace


@pytest.mark.parametrize(
    "name",
    [
        "auth_source",
        "authSource",
        "auth_database",
        "auth_region",
        "auth_scope",
        "oauth_scopes",
        "oauth_issuer",
        "pass_through",
        "sig_alg",
        "pem_format",
        "VAULT_AUTH_ROLE",
        "SSH_AUTH_SOCK",
    ],
)
def test_a_credential_s_word_before_the_last_is_no_secret(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    "name", ["auth_header", "AUTH_HEADER", "authHeader", "private_key", "db_auth", "oauth"]
)
def test_a_credential_s_word_or_pair_at_the_end_is(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "text",
    [
        "mongodb://db.example/app?authSource=admin",
        "mongodb://u@db.example/app?replicaSet=rs0&authSource=admin",
        "Server=h;auth_database=admin;",
    ],
)
def test_a_query_s_auth_source_is_no_secret(text: str) -> None:
    assert "admin" not in embedded_secrets(text)


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("token bucket", []),
        ("Basic setup", []),
        ("Bearer short", []),
        ("Digest auth", []),
        ("Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", ["eyJhbGciOiJIUzI1NiJ9.e30.sig"]),
        ("Token 0123456789abcdef0123", ["0123456789abcdef0123"]),
        ("Basic dXNlcjpwYXNzd29yZA==", ["dXNlcjpwYXNzd29yZA=="]),
        ("Authorization: Basic short", ["short"]),
        # a pair whose key names a credential: its whole value too (connection_secrets)
        ("authorization=Token abc", ["Token abc", "abc"]),
    ],
)
def test_only_a_credential_shaped_word_after_a_scheme_is_secret(
    text: str, secrets: list[str]
) -> None:
    assert embedded_secrets(text) == secrets


# -- the digests --------------------------------------------------------------------------

EMBEDDED = {
    "jdbc": 'jdbc_url = "jdbc:postgresql://{host}/db?user=u&password={pw}"',
    "ado": 'conn = "Server={host};Database=d;User Id=sa;Password={pw};"',
    "keyword": 'pg = "host={host} dbname=d user=u password={pw}"',
    "sas": 'blob = "https://{host}.blob.core.windows.net/c?sv=2020-08-04&sig={pw}"',
}
CONFIG = """
state {{ path = "state" }}
task "t" {{
  input {{
    provider_path = "./in.py"
    config {{
      {line}
      tables = ["public.orders"]
    }}
  }}
  output {{ provider_path = "dstream-null" }}
}}
"""


def _project(kind: str, password: str, host: str = "db1") -> Project:
    text = CONFIG.format(line=EMBEDDED[kind].format(pw=password, host=host))
    return load_project_text(text, "dstream.hcl", environ={})


@pytest.mark.parametrize("kind", sorted(EMBEDDED))
def test_an_embedded_password_is_left_out_of_both_digests(kind: str) -> None:
    one, two = _project(kind, "FirstPassw0rd1"), _project(kind, "OtherPassw0rd2")
    for project in (one, two):
        assert embedded_secrets(str(project.tasks["t"].input.config))  # the redactor's
    task_one, task_two = one.tasks["t"], two.tasks["t"]
    assert input_digest(task_one.input, []) == input_digest(task_two.input, [])
    assert definition_hash(task_one, []) == definition_hash(task_two, [])
    # still another source when the host changes
    other = _project(kind, "FirstPassw0rd1", host="db2").tasks["t"]
    assert input_digest(other.input, []) != input_digest(task_one.input, [])
    assert definition_hash(other, []) != definition_hash(task_one, [])


def test_a_digest_stored_over_an_embedded_password_still_resumes(ws: Workspace) -> None:
    """Upgrade: a digest an earlier dstream stored over the whole definition (the JDBC
    password included) is recognised as the same input, not refused as changed."""
    ws.python_script("in.py", INPUT)
    ws.config(CONFIG.format(line=EMBEDDED["jdbc"].format(pw="JdbcPassw0rd9", host="db1")))
    first = ws.run("run", "t")
    assert first.returncode == 0, first.stderr
    path = ws.root / "state" / ".t.input-hash"
    new = path.read_text()
    spec = _project("jdbc", "JdbcPassw0rd9").tasks["t"].input
    assert new.strip() != digest_with_secrets(spec)  # the password is left out now
    path.write_text(digest_with_secrets(spec) + "\n")
    again = ws.run("run", "t")
    assert again.returncode == 0, again.stderr
    assert "changed" not in again.stderr
    assert path.read_text() == new


# -- provider test --env ------------------------------------------------------------------

PROVIDER = r"""
import json, os, sys
json.loads(sys.stdin.readline())
sys.stderr.write("env " + os.environ.get("DATABASE_URL", "") + "\n")
print(json.dumps({"status": "error", "message": "no " + os.environ["DATABASE_URL"]}), flush=True)
sys.exit(1)
"""


@pytest.mark.parametrize("as_json", [False, True])
def test_provider_test_masks_a_url_s_password_in_env(ws: Workspace, as_json: bool) -> None:
    ws.python_script("p.py", PROVIDER)
    done = ws.run(
        "provider", "test", "./p.py", "--role", "input", "--config", json.dumps({}),
        "--env", "DATABASE_URL=postgres://u:UrlPassw0rd7@db.example/app",
        *(("--json",) if as_json else ()),
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "db.example" in said, said  # the provider's words are shown
    assert "UrlPassw0rd7" not in said, said


# -- an unparseable DSN's quotation -------------------------------------------------------


# libpq says `missing "=" after "Secret"7"Q"`: paired quote by quote, "7" showed
@pytest.mark.parametrize("password", ['Horse Secret"7"Q', 'Ab"c Zq"9Battery'])
def test_a_quote_inside_libpq_s_quotation_shows_nothing(ws: Workspace, password: str) -> None:
    ws.config(STATE_DSN_CONFIG)
    done = ws.run("status", "t", env={"DSTREAM_VAR_pgpw": password})
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "is not a valid libpq connection string" in said, said  # what is wrong is said
    for piece in ("Secret", ")7(", "Zq", "Battery"):
        assert piece not in said, said
    assert "Traceback" not in said, said
