"""A keyword state DSN libpq cannot parse (a password with a space, not in single
quotes) never shows a piece of its password: libpq's message quotes the word it stopped
at (`missing "=" after "Horse9Battery"`, `invalid connection option "Horse9"`), which
is part of the password, not the whole masked one. So none of libpq's message is shown:
one fixed sentence says the DSN does not parse, as dstream-postgres-cdc's does
(config/connstr.py UNPARSEABLE_DSN)."""

from __future__ import annotations

import pytest

from tests.workspace import Workspace

PASSWORDS = {
    "missing =": "Corr3ct Horse9Battery",
    "unknown option": "Corr3ct Horse9=Battery",
}
# dstream's words, the same for each (config/connstr.py UNPARSEABLE_DSN)
REASON = "is not a valid libpq connection string"
CONFIG = """
variable "pgpw" {
  sensitive = true
}
state {
  backend = "postgres"
  dsn     = "host=127.0.0.1 port=1 dbname=postgres user=postgres password=${var.pgpw}"
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config { max_count = 1 }
  }
  output { provider_path = "dstream-null" }
}
"""


@pytest.mark.parametrize("kind", sorted(PASSWORDS))
@pytest.mark.parametrize("command", [("status", "t"), ("run", "t", "--json"), ("state", "list")])
def test_an_unparseable_keyword_dsn_quotes_no_piece_of_its_password(
    ws: Workspace, kind: str, command: tuple[str, ...]
) -> None:
    password = PASSWORDS[kind]
    ws.config(CONFIG)
    done = ws.run(*command, env={"DSTREAM_VAR_pgpw": password})
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "Horse9" not in said, said
    assert "Battery" not in said, said
    assert REASON in said, said  # what is wrong is still said
    assert "Traceback" not in said, said
