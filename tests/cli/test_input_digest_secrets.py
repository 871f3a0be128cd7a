"""The digest of the input configuration kept beside a checkpoint (`.<task>.input-hash`,
`<table>_input`) says nothing about a secret: it is a fast hash, and one computed over a
password would let whoever reads the state test guesses offline (security review D6).
Secrets are replaced by a marker before hashing; what names the source (a host, a
database, a table) still counts, so a checkpoint is still not resumed silently in
another source. A digest stored before secrets were left out is taken for the same
configuration once, and replaced."""

from __future__ import annotations

from hashlib import blake2b
from typing import Optional

import pytest

from dstream.config.loader import load_project_text
from dstream.config.model import Project, definition
from dstream.protocol.values import encode_json
from dstream.runtime.resume import input_digest
from tests.workspace import Workspace

SECRET = "hunter2-correct-horse"
OTHER_SECRET = "battery-staple-42"

# An input in Python without the SDK: resumes at the stored {"seq": n}, emits three
# envelopes and a checkpoint after each. It takes any config.
INPUT = r"""
import json, sys
cmd = json.loads(sys.stdin.readline())
start = (cmd.get("state") or {}).get("seq", 0)
print(json.dumps({"status": "ready", "protocol": 1, "features": ["checkpoints"]}), flush=True)
for seq in range(start + 1, start + 4):
    print(json.dumps({"data": {"seq": seq}, "metadata": {}}))
    print(json.dumps({"checkpoint": {"seq": seq}}), flush=True)
"""

CONFIG = """
variable "pw" { sensitive = true }
state { path = "state" }
task "t" {
  input {
    provider_path = "./in.py"
    config {
      dsn    = "host=db.example dbname=shop user=cdc password=${var.pw}"
      tables = ["public.orders"]
    }
    env = { MYPW = var.pw }
  }
  output { provider_path = "dstream-null" }
}
"""


def _project(config: str, secret: str, env: Optional[dict[str, str]]) -> Project:
    environ = {"DSTREAM_VAR_pw": secret, **(env or {})}
    return load_project_text(config, "dstream.hcl", environ=environ)


def _digest(config: str, secret: str = SECRET, env: Optional[dict[str, str]] = None) -> str:
    project = _project(config, secret, env)
    return input_digest(project.tasks["t"].input, project.sensitive_values)


def _unmasked(config: str, secret: str = SECRET) -> str:
    """The digest as dstream stored it before secrets were left out."""
    spec = _project(config, secret, None).tasks["t"].input
    canonical = encode_json(definition(spec), sort_keys=True, default=str)
    return "blake2b:" + blake2b(canonical, digest_size=16).hexdigest()


@pytest.fixture
def project(ws: Workspace) -> Workspace:
    ws.python_script("in.py", INPUT)
    ws.config(CONFIG)
    return ws


def _run(ws: Workspace, secret: str = SECRET, *args: str) -> str:
    done = ws.run("run", "t", *args, env={"DSTREAM_VAR_pw": secret})
    assert done.returncode == 0, done.stderr
    return done.stderr


def _checkpoint(ws: Workspace) -> str:
    return ws.run("state", "show", "t", env={"DSTREAM_VAR_pw": SECRET}).stdout.strip()


def test_the_stored_digest_does_not_depend_on_a_secret(project: Workspace) -> None:
    """The review's oracle: hashing the known configuration with a guessed password
    must not give the stored digest, for the right guess either."""
    _run(project)
    path = project.root / "state" / ".t.input-hash"
    stored = path.read_text().strip()
    assert stored == _digest(CONFIG, OTHER_SECRET)  # the same whatever the password
    assert stored != _unmasked(CONFIG)  # the right guess confirms nothing
    assert SECRET not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0


def test_a_new_password_resumes_without_asking(project: Workspace) -> None:
    """A password is no position in a source: changing it is not a changed input."""
    _run(project)
    again = _run(project, OTHER_SECRET)
    assert "changed" not in again
    assert _checkpoint(project) == '{"seq": 6}'


def test_a_digest_stored_before_secrets_were_left_out_is_taken_once(project: Workspace) -> None:
    """A checkpoint whose digest an earlier dstream computed over the secrets resumes
    without --resume-changed (the configuration is the same), and the old digest is
    replaced by one without them."""
    _run(project)
    path = project.root / "state" / ".t.input-hash"
    new = path.read_text()
    path.write_text(_unmasked(CONFIG) + "\n")
    again = _run(project)
    assert "changed" not in again
    assert path.read_text() == new
    assert _checkpoint(project) == '{"seq": 6}'


def test_an_old_digest_of_another_configuration_is_still_refused(project: Workspace) -> None:
    _run(project)
    path = project.root / "state" / ".t.input-hash"
    path.write_text(_unmasked(CONFIG.replace("db.example", "old.example")) + "\n")
    refused = project.run("run", "t", env={"DSTREAM_VAR_pw": SECRET})
    assert refused.returncode == 2, refused.stderr
    assert "the input's configuration changed since its checkpoint was stored" in refused.stderr


def test_what_names_the_source_still_counts() -> None:
    """Another host, database or table, or a provider env variable that is no secret,
    is another source: the digest changes."""
    base = _digest(CONFIG)
    assert _digest(CONFIG.replace("host=db.example", "host=db2.example")) != base
    assert _digest(CONFIG.replace("dbname=shop", "dbname=shop2")) != base
    assert _digest(CONFIG.replace("public.orders", "public.items")) != base
    with_host = CONFIG.replace("MYPW = var.pw", 'MYPW = var.pw, PGHOST = "a"')
    assert _digest(with_host) != _digest(with_host.replace('"a"', '"b"'))


@pytest.mark.parametrize(
    "config",
    [
        # a literal secret under a secret-looking key, in config and in env
        'config { api_token = "SECRET" }',
        'config { nested = { password = "SECRET" } }',
        'config { tables = ["a"] }\n    env = { DB_PASSWORD = "SECRET" }',
        # the password of a URI, under any key
        'config { url = "amqp://app:SECRET@mq.example:5672/vhost" }',
        # the secret pairs of connection strings under a secret-looking key
        'config { dsn = "postgresql://cdc@db.example/shop?sslmode=require&password=SECRET" }',
        'config { connection_string = "server=sql01,1433;database=shop;user id=cdc;'
        'password=SECRET" }',
        'config { connection_string = "Endpoint=sb://ns.example/;SharedAccessKeyName=root;'
        'SharedAccessKey=SECRET" }',
        "config { dsn = \"host=db password='two SECRET words' dbname=shop\" }",
        'config { connection = { host = "db", password = "SECRET" } }',
        # a value read from a credential's environment variable
        'config { tables = [env("DB_PASSWORD")] }',
    ],
)
def test_a_secret_is_left_out_wherever_it_is(config: str) -> None:
    text = """
    task "t" {
      input {
        provider_path = "./in.py"
        %s
      }
      output { provider_path = "dstream-null" }
    }
    """
    one = text % config.replace("SECRET", "s3cr3t-one")
    two = text % config.replace("SECRET", "s3cr3t-two")
    env = {"DB_PASSWORD": "s3cr3t-one"}
    assert _digest(one, env=env) == _digest(two, env={"DB_PASSWORD": "s3cr3t-two"})


def test_the_parts_of_a_connection_string_that_name_the_source_count() -> None:
    text = """
    task "t" {
      input {
        provider_path = "./in.py"
        config { %s }
      }
      output { provider_path = "dstream-null" }
    }
    """
    pairs = [
        ('dsn = "postgresql://cdc:pw@db.example:5432/shop"', "db.example", "db2.example"),
        ('dsn = "postgresql://cdc:pw@db.example:5432/shop"', "/shop", "/shop2"),
        ('dsn = "host=db port=5432 dbname=shop user=cdc password=pw"', "port=5432", "port=5433"),
        ('connection_string = "server=sql01,1433;database=shop;password=pw"', "shop", "shop2"),
        ('connection_string = "Data Source=sql01;Initial Catalog=shop;Password=pw"', "shop", "x"),
        ('connection_string = "Endpoint=sb://ns.example/;SharedAccessKey=k"', "ns.", "ns2."),
        ('connection = { host = "db.example", password = "pw" }', "db.example", "db2.example"),
    ]
    for config, before, after in pairs:
        assert _digest(text % config) != _digest(text % config.replace(before, after)), config


URI_ONE = "postgresql://app:pw1@prod-db.example:5432/orders"
URI_TWO = "postgresql://app:pw1@other-db.example:5432/billing"
KEYWORDS_ONE = "host=prod-db.example dbname=orders password=pw1"
KEYWORDS_TWO = "host=other-db.example dbname=billing password=pw1"


@pytest.mark.parametrize(
    ("config", "given", "one", "two"),
    [
        # a sensitive variable holding the whole DSN
        ("dsn = var.src", "DSTREAM_VAR_src", URI_ONE, URI_TWO),
        ("dsn = var.src", "DSTREAM_VAR_src", KEYWORDS_ONE, KEYWORDS_TWO),
        # the same under a key that names no secret
        ("source = var.src", "DSTREAM_VAR_src", URI_ONE, URI_TWO),
        ("source = var.src", "DSTREAM_VAR_src", KEYWORDS_ONE, KEYWORDS_TWO),
        # a credential's environment variable
        ('dsn = env("SOURCE_DSN")', "SOURCE_DSN", URI_ONE, URI_TWO),
        ('dsn = env("SOURCE_DSN")', "SOURCE_DSN", KEYWORDS_ONE, KEYWORDS_TWO),
    ],
)
def test_a_dsn_held_whole_in_a_secret_still_names_its_source(
    config: str, given: str, one: str, two: str
) -> None:
    """The upgrade review's D1: the whole DSN in one secret was masked whole, so another
    database gave the same digest and a run resumed the old one's checkpoint, exit 0."""
    text = (
        """
    variable "src" {
      type      = string
      default   = ""
      sensitive = true
    }
    task "t" {
      input {
        provider_path = "./in.py"
        config { CONFIG }
      }
      output { provider_path = "dstream-null" }
    }
    """
    ).replace("CONFIG", config)

    def digest(value: str) -> str:
        project = load_project_text(text, "dstream.hcl", environ={given: value})
        return input_digest(project.tasks["t"].input, project.sensitive_values)

    assert digest(one) != digest(two)
    assert digest(one) == digest(one.replace("pw1", "pw2"))  # a new password is no new source
