"""How a state dsn is named in messages and `dstream status` (state/postgres.py
describe_dsn): without its password, and each host with its own port, as libpq pairs
them (one port for every host, or one per host)."""

from __future__ import annotations

import pytest

from dstream.state.postgres import describe_dsn


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("postgresql://u:secret@db1:5433/app", "db1:5433/app"),
        ("postgresql://u@db1.example:5432,db2.example:6543/postgres",
         "db1.example:5432,db2.example:6543/postgres"),
        ("host=db1,db2 port=6000 dbname=app user=u", "db1:6000,db2:6000/app"),
        ("host=db1,db2 dbname=app", "db1:5432,db2:5432/app"),
        ("dbname=app", "localhost:5432/app"),
    ],
)  # fmt: skip
def test_each_host_is_named_with_its_port(dsn: str, named: str) -> None:
    assert describe_dsn(dsn) == named
