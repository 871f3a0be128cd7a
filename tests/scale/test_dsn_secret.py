"""The state DSN's password never reaches any output, not even through libpq's errors,
some of which quote the whole DSN (an unparseable URI) or the password itself (an
invalid percent-encoding): the password is masked from the moment the state block is
used, and libpq's message, which may quote it, is not shown: one sentence says the dsn
does not parse (config/connstr.py UNPARSEABLE_DSN, as dstream-postgres-cdc says it), its
hint how to quote and percent-encode."""

from __future__ import annotations

import pytest

from dstream.config.connstr import UNPARSEABLE_DSN, UNPARSEABLE_DSN_HINT
from tests.workspace import Workspace

PASSWORD = "S3cr3tPwXyz"
DSNS = {
    # libpq: 'end of string reached when looking for matching "]" in IPv6 host address
    # in URI: "postgresql://..."' (the whole DSN, password and all)
    "ipv6": f"postgresql://postgres:{PASSWORD}@[::1:55433/streams",
    # libpq: 'invalid percent-encoded token: "<the password>"'
    "percent": f"postgresql://postgres:{PASSWORD}%zz@127.0.0.1:1/streams",
    # a keyword DSN with an unterminated quote: libpq quotes nothing, masked all the same
    "keyword": f"host=127.0.0.1 port=1 password='{PASSWORD} x",
}
COMMANDS = {
    "state list": ("state", "list"),
    "run": ("run", "t"),
    "run --json": ("run", "t", "--json"),
    "status": ("status", "t"),
}


@pytest.mark.parametrize("dsn_kind", sorted(DSNS))
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_dsn_libpq_cannot_parse_is_never_shown(
    ws: Workspace, dsn_kind: str, command: str
) -> None:
    dsn = DSNS[dsn_kind]
    state = f'state {{\n  backend = "postgres"\n  dsn = "{dsn}"\n  table = "ds"\n}}'
    ws.counter_task("t", "dstream-null", count=5, checkpoint_every=1, state=state)
    done = ws.run(*COMMANDS[command])
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert PASSWORD not in said, said
    assert dsn not in said, said
    assert UNPARSEABLE_DSN in said and UNPARSEABLE_DSN_HINT in said, said  # what to do
    assert "Traceback" not in said, said
