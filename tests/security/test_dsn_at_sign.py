"""A password with an unencoded "@" in a postgresql:// URI: libpq splits the URI at the
first "@" and takes the rest of the password for the host, which its errors then quote
(`could not translate host name "word77@127.0.0.1"`). The masked whole password does
not cover that piece, so a URI with an "@" past the user name and password libpq
reads (up to the first "@" or "/") and before its query is refused before anything
connects, quoting no part of it, both by the state backend and by dstream-postgres-cdc (one rule:
dstream.config.connstr.ambiguous_dsn)."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

PASSWORD = "Pass@word77"
PIECES = ("word77", "Pass@")  # what libpq's reading would show, and the whole's head
HINT = "percent-encode @ as %40"
SENSITIVE = """
variable "pgpw" {
  sensitive = true
}
"""
STATE = """
state {
  backend = "postgres"
  dsn     = "%s"
}
"""
CDC_TASK = """
task "t" {
  input {
    provider_path = "dstream-postgres-cdc"
    config {
      dsn    = "%s"
      tables = ["public.orders"]
    }
  }
  output { provider_path = "dstream-null" }
}
"""
COUNTER_TASK = """
task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
"""
# Port 1 on loopback: nothing listens, so even a wrongly accepted URI fails fast.
URI = "postgresql://postgres:%s@127.0.0.1:1/postgres"
# The password given by a sensitive variable, or written in the file.
GIVEN = {"variable": URI % "${var.pgpw}", "literal": URI % PASSWORD}


def assert_refused(said: str) -> None:
    for piece in PIECES:
        assert piece not in said, said
    assert HINT in said, said
    assert "Traceback" not in said, said


@pytest.mark.timeout(120)
@pytest.mark.parametrize("given", sorted(GIVEN))
@pytest.mark.parametrize(
    "command", [("state", "list"), ("run", "t"), ("run", "t", "--json"), ("lint",)]
)
def test_the_state_backend_refuses_a_password_with_an_at_sign(
    ws: Workspace, given: str, command: tuple[str, ...]
) -> None:
    ws.config(SENSITIVE + STATE % GIVEN[given] + COUNTER_TASK)
    done = ws.run(*command, env={"DSTREAM_VAR_pgpw": PASSWORD})
    assert_refused(done.stdout + done.stderr)
    assert done.returncode == 2, done.stdout + done.stderr  # the configuration's fault
    assert "dstream.hcl:8:13" in done.stdout + done.stderr  # where the dsn was written


@pytest.mark.timeout(120)
@pytest.mark.parametrize("given", sorted(GIVEN))
@pytest.mark.parametrize("command", [("plan", "t"), ("run", "t"), ("plan", "t", "--json")])
def test_postgres_cdc_refuses_a_password_with_an_at_sign(
    ws: Workspace, given: str, command: tuple[str, ...]
) -> None:
    ws.config(SENSITIVE + CDC_TASK % GIVEN[given])
    done = ws.run(*command, env={"DSTREAM_VAR_pgpw": PASSWORD})
    assert_refused(done.stdout + done.stderr)
    assert done.returncode == 1, done.stdout + done.stderr  # the provider failed


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Pass@word@h/db",
        "postgres://u:a@b@c@h:5432/db",
        "postgresql://u:Pass@word@h1:5432,h2:5433/db",
        "postgresql://u:Pass@word/77@h/db",  # libpq would read host "word"
        "postgresql://Us@r:pw@h/db?sslmode=disable",
        "postgresql://u:pa?ss@w@h/db",  # libpq reads past "?" to the first "@"
        "postgresql://u:pa/ss@h/db",  # no user info for libpq: host "u", port "pa"
    ],
)
def test_an_at_sign_after_the_user_info_libpq_reads_is_ambiguous(dsn: str) -> None:
    from dstream.config.connstr import ambiguous_dsn

    assert ambiguous_dsn(dsn)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:Pass%40word@h/db",
        "postgresql://u@h/db",
        "postgresql://h/db",
        "postgresql://u:pw@h1:5432,h2:5433/db?options=-c%20a%3Db",
        "postgresql://u@h/db?password=Pass@word&application_name=a@b",
        "postgresql://u:pa?ss@h/db",  # libpq reads the user info up to the first "@"
        "postgresql://[::1]:5432/db",
        "host=h user=u password=Pass@word@x dbname=db",  # a keyword DSN: no split at @
        "",
    ],
)
def test_an_encoded_or_keyword_dsn_is_not(dsn: str) -> None:
    from dstream.config.connstr import ambiguous_dsn

    assert not ambiguous_dsn(dsn)
