"""A table whose schema or name holds a dot (PostgreSQL `"we.ird"."Tab.le"`, SQL Server
`[we.ird].[Tab.le]`) can be routed to a queue: the output's `tables` reads names as the
inputs do (providers/tables.py), and routing goes by the envelope's Schema and
TableName, never by looking for a dot."""

from __future__ import annotations

import itertools

import orjson
import pytest

from dstream.errors import ConfigError
from dstream.providers.queues.routing import (
    RABBITMQ_RULES,
    QueueNaming,
    Route,
    Router,
    RoutingError,
)
from dstream.providers.tables import format_table_name, parse_table_name
from tests.queues.rabbit import RabbitServer
from tests.sdk.conftest import DEADLINE, command, frames, run

PROVIDER = "queues.rabbitmq"
_names = itertools.count()
WEIRD = {"TableName": "Tab.le", "Schema": "we.ird"}


def router(tables: list[str], pattern: str = "{TableName}_cdc_events", **kw: str) -> Router:
    return Router(QueueNaming(pattern, RABBITMQ_RULES, task="t"), tables, **kw)


@pytest.mark.parametrize("written", ['"we.ird"."Tab.le"', "[we.ird].[Tab.le]"])
def test_a_quoted_name_with_dots_routes_by_schema_and_table(written: str) -> None:
    r = router([written], pattern="{schema}/{table}/{TableName}")
    assert r.route(WEIRD) == Route("we.ird_Tab.le_we.ird.Tab.le", written)
    assert r.wanted() == [("we.ird_Tab.le_we.ird.Tab.le", written)]
    # Another schema of the same name is another table.
    with pytest.raises(RoutingError, match="has no queue"):
        r.route({"TableName": "Tab.le", "Schema": "we"})


def test_an_unquoted_name_with_more_dots_is_refused_with_how_to_quote_it() -> None:
    with pytest.raises(ConfigError, match=r"we\.ird\.Tab\.le") as err:
        router(["we.ird.Tab.le"])
    assert '"we.ird"."Tab.le"' in (err.value.hint or "")


def test_no_guessing_by_dots_in_a_table_name_with_a_schema() -> None:
    # The bare configured name still matches an envelope of any schema, dots or not.
    assert router(['"Tab.le"']).route(WEIRD).table == '"Tab.le"'
    # An envelope with a Schema is never matched by splitting its TableName.
    with pytest.raises(RoutingError, match="has no queue"):
        router(["we.ird"]).route({"TableName": "ird", "Schema": "we.x"})


def test_a_table_name_without_schema_matches_its_text_as_before() -> None:
    r = router(["dbo.Orders", '"we.ird"."Tab.le"'])
    assert r.route({"TableName": "dbo.Orders"}).queue == "dbo.Orders_cdc_events"
    assert r.route({"TableName": "Orders", "Schema": "dbo"}).queue == "dbo.Orders_cdc_events"
    assert r.route({"TableName": "we.ird.Tab.le"}).queue == "we.ird.Tab.le_cdc_events"


def test_a_table_that_appears_only_in_the_stream_keeps_its_schema() -> None:
    r = router([], pattern="{schema}-{table}", unknown_table="create")
    assert r.route(WEIRD) == Route("we.ird-Tab.le", '"we.ird"."Tab.le"', new_queue=True)
    with pytest.raises(RoutingError, match=r"'\"we\.ird\"\.\"Tab\.le\"' has no queue"):
        router(["a"]).route(WEIRD)


@pytest.mark.parametrize(
    ("schema", "name"),
    [("dbo", "Orders"), ("we.ird", "Tab.le"), ("", "Tab.le"), ('a"b', "c"), ("", "x")],
)
def test_a_formatted_name_reads_back(schema: str, name: str) -> None:
    text = format_table_name(schema, name)
    assert parse_table_name(text, "default", '""[]') == (schema or "default", name)
    assert parse_table_name(text, "default", '""') == (schema or "default", name)


@pytest.mark.timeout(DEADLINE * 3)
def test_rabbitmq_routes_a_dotted_postgres_table(broker: RabbitServer) -> None:
    prefix = f"w{next(_names)}_"
    config = {
        "url": broker.url,
        "tables": ['"we.ird"."Tab.le"'],
        "queue_pattern": prefix + "{TableName}",
    }
    done = run(PROVIDER, command(config, cmd="init", role="output"))
    assert done.returncode == 0, done.stderr
    queue = prefix + "we.ird.Tab.le"
    assert broker.queue_count(queue) == 0
    frame = {"data": {"id": 1}, "metadata": WEIRD}
    done = run(PROVIDER, command(config, role="output") + frames(frame, {"checkpoint": 1}))
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(body) for _, body in broker.drain(queue)] == [{"id": 1}]
    done = run(PROVIDER, command(config, cmd="destroy", role="output"))
    assert done.returncode == 0, done.stderr
    assert broker.queue_count(queue) is None
