"""Secret-looking names and strings the redactor missed (issue "secrets that still get
through", item 10): config keys (passphrase, db_pass, auth, sas, private_key_pem,
bearer, an Authorization or a Cookie header), a password inside a JDBC, ADO.NET, keyword
or URL string under any key, environment variables (DB_PASS, *_PASSPHRASE, a
DATABASE_URL's password) are masked in `show` and in a provider's echoed stderr; ordinary
names that merely look alike (path, passthrough, author, authority, cookie_name) are
not."""

from __future__ import annotations

import pytest

from dstream.config.connstr import embedded_secrets, is_secret_key
from tests.workspace import Workspace

# Echoes its config and environment on stderr, then fails.
PROVIDER = r"""
import json, os, sys
cfg = json.loads(sys.stdin.readline())["config"]
sys.stderr.write("config " + json.dumps(cfg) + "\n")
for name in ("DATABASE_URL", "REDIS_URL", "DB_PASS", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
    sys.stderr.write(name + "=" + os.environ.get(name, "") + "\n")
sys.stderr.flush()
sys.exit(3)
"""

CONFIG = """
task "k" {
  input {
    provider_path = "./p.py"
    inherit_env   = ["DATABASE_URL", "REDIS_URL", "DB_PASS", "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    config {
      jdbc_url        = "jdbc:sqlserver://h:1433;databaseName=x;user=sa;password=JdbcPassw0rdA"
      url             = "postgresql://h/db?user=u&password=QueryPassw0rdB"
      database_url    = "host=h user=u password=KwPassw0rdC"
      conn            = "Server=h;User Id=sa;Pwd=AdoPassw0rdD"
      passphrase      = "PhrasePassw0rdE"
      db_pass         = "DbPassPassw0rdF"
      auth            = "AuthPassw0rdG"
      sas             = "sv=2020&sig=SigPassw0rdH"
      headers = {
        Authorization = "Bearer BearerPassw0rdJ"
        Cookie        = "session=CookiePassw0rdL"
      }
      bearer          = "BearerKeyPassw0rdM"
      cookie_name     = "CookieNameIsNoSecret5"
      private_key_pem = "PemPassw0rdK"
      path            = "PathIsNoSecret1"
      passthrough     = "PassthroughIsNoSecret2"
      author          = "AuthorIsNoSecret3"
      authority       = "AuthorityIsNoSecret4"
    }
    env = { MY_DB_PASS = "EnvPassPassw0rdN" }
  }
  output { provider_path = "dstream-null" }
}
"""

ENVIRONMENT = {
    "DATABASE_URL": "postgresql://app:DatabaseUrlPw5@db/app",
    "REDIS_URL": "redis://:RedisUrlPw6@cache:6379/0",
    "DB_PASS": "DbPassVarPw7",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "SnowPhrasePw8",
}
SECRETS = [
    *(
        f"{word}Passw0rd{letter}"
        for word, letter in [
            ("Jdbc", "A"),
            ("Query", "B"),
            ("Kw", "C"),
            ("Ado", "D"),
            ("Phrase", "E"),
            ("DbPass", "F"),
            ("Auth", "G"),
            ("Sig", "H"),
            ("Bearer", "J"),
            ("Pem", "K"),
            ("Cookie", "L"),
            ("BearerKey", "M"),
            ("EnvPass", "N"),
        ]
    ),
    *ENVIRONMENT.values(),
]
NO_SECRETS = [
    "PathIsNoSecret1",
    "PassthroughIsNoSecret2",
    "AuthorIsNoSecret3",
    "AuthorityIsNoSecret4",
    "CookieNameIsNoSecret5",
]


@pytest.fixture
def names_ws(ws: Workspace) -> Workspace:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    ws.env.update(ENVIRONMENT)
    return ws


def test_secret_names_and_embedded_passwords_are_masked_everywhere(names_ws: Workspace) -> None:
    shown = []
    for args in (("show", "k"), ("show", "k", "--json"), ("run", "k"), ("run", "k", "-f", "json")):
        done = names_ws.run(*args)
        shown.append(done.stdout + done.stderr)
    text = "\n".join(shown)
    assert "config {" in text and "***" in text, text[-1000:]
    assert [secret for secret in SECRETS if secret in text] == []


def test_names_that_only_look_like_secret_ones_are_shown(names_ws: Workspace) -> None:
    done = names_ws.run("run", "k")
    assert [value for value in NO_SECRETS if value not in done.stderr] == [], done.stderr


@pytest.mark.parametrize(
    "name",
    [
        "passphrase",
        "db_pass",
        "DB_PASS",
        "dbPass",
        "auth",
        "AUTHZ",
        "Authorization",
        "sas",
        "sig",
        "private_key_pem",
        "privateKey",
        "pem",
        "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE",
        "bearer",
        "BEARER",
        "bearer_token",
        "Cookie",
        "cookies",
        "session_cookie",
        "Set-Cookie",
    ],
)
def test_these_names_are_secret(name: str) -> None:
    assert is_secret_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "path",
        "passthrough",
        "author",
        "authority",
        "authors",
        "bypass",
        "compass",
        "signal",
        "signature",
        "auth_method",
        "private_key_path",
        "routing_key",
        "pass_count",
        "cookie_name",
        "cookie_path",
        "cookie_domain",
        "bearer_format",
    ],
)
def test_these_names_are_not(name: str) -> None:
    assert not is_secret_key(name)


@pytest.mark.parametrize(
    ("text", "secrets"),
    [
        ("Bearer eyJhbGciOi.payload", ["eyJhbGciOi.payload"]),
        ("Authorization: Basic dXNlcjpwYXNz", ["dXNlcjpwYXNz"]),
        ("-H 'Authorization: Bearer abc123def'", ["abc123def"]),
        # a text that begins with a scheme's word but is no header value: nothing in it
        # is a credential (masking "bucket" would mangle every line that says it)
        ("Token bucket limiter", []),
        ("Basic settings for the orders table", []),
    ],
)
def test_an_authorization_header_s_credentials_only(text: str, secrets: list[str]) -> None:
    assert embedded_secrets(text) == secrets
