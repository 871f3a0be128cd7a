"""Second secrets audit, item 4: a URI's user information is only what comes between
"://" and the first "/", "?" or "#" after it, and an IPv6 host in brackets has none:
`show` printed "http://[:***@c" for "http://[::1]:8080/x?next=a:b@c", a password read out
of its query. A postgresql:// URI keeps libpq's readings (an unencoded "/" or "@")."""

from __future__ import annotations

import pytest

from dstream.config.connstr import dsn_passwords, embedded_secrets
from dstream.config.redact import Redactor
from tests.workspace import Workspace

NO_PASSWORD = [
    "http://[::1]:8080/x?next=a:b@c",
    "s3://bucket/2024-01-01T10:00:00@v2/x",
    "https://api.example.com:8443/path#frag:x@y",
    "postgresql://[::1]:5432/db?options=a:b@c",
]


@pytest.mark.parametrize("text", NO_PASSWORD)
def test_no_password_is_read_out_of_a_host_path_or_query(text: str) -> None:
    assert embedded_secrets(text) == []
    assert Redactor(embedded_secrets(text)).text(text) == text


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("amqp://app:S3cretPw9@mq/x?a=b@c", "S3cretPw9"),
        ("https://u:p%40ss9word@h:8443/x", "p%40ss9word"),
        ("postgresql://u:ab/cd@ef@h/db", "ab/cd@ef"),  # libpq's widest reading
    ],
)
def test_a_password_in_the_user_information_is_read(text: str, password: str) -> None:
    assert password in [*dsn_passwords(text), *embedded_secrets(text)]


CONFIG = """
task "s" {
  input {
    provider_path = "dstream-counter"
    config { interval = 100 }
    env = {
      H = "http://[::1]:8080/x?next=a:b@c"
      D = "s3://bucket/2024-01-01T10:00:00@v2/x"
      P = "amqp://app:S3cretPw9@mq/x"
    }
  }
  output { provider_path = "dstream-null" }
}
"""


def test_show_prints_such_uris_whole(ws: Workspace) -> None:
    ws.config(CONFIG)
    for args in (("show", "s"), ("show", "s", "--json")):
        done = ws.run(*args)
        assert done.returncode == 0, done.stderr
        assert "http://[::1]:8080/x?next=a:b@c" in done.stdout, done.stdout
        assert "s3://bucket/2024-01-01T10:00:00@v2/x" in done.stdout, done.stdout
        assert "S3cretPw9" not in done.stdout + done.stderr
