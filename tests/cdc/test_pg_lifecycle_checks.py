"""dstream-postgres-cdc's init/plan/status/destroy against what a real server can hold:
a slot of the task's name in another database or made by another plugin, a role
without the privileges init needs, a DSN libpq cannot parse, an init that fails half-way,
a table removed from `tables`, and a slot re-made after the task's checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from tests.cdc.conftest import PgServer
from tests.cdc.pgtools import Provider, lifecycle, stop_started
from tests.services import wait_until

pytestmark = pytest.mark.timeout(120)


class Db(PgServer):
    """A database of the test's own (dropped afterwards with its slots), and roles: the
    server's helpers (execute, query) on that database."""

    def __init__(self, server: PgServer, name: str) -> None:
        super().__init__(server.new_database(name))
        self.server = server
        self.name = name
        self.roles: list[str] = []

    def role(self, name: str, attributes: str = "") -> str:
        """A login role owning the test's tables; the DSN that connects as it."""
        self.server.execute(
            f'DROP ROLE IF EXISTS "{name}"', f'CREATE ROLE "{name}" LOGIN {attributes}'
        )
        self.roles.append(name)
        self.execute(
            f'ALTER TABLE customers OWNER TO "{name}"', f'ALTER TABLE orders OWNER TO "{name}"'
        )
        return self.dsn.replace("://postgres@", f"://{name}@", 1)

    def slots(self) -> list[tuple[Any, ...]]:
        """This database's slots (other tests' databases on the server have their own)."""
        return self.query(
            "SELECT slot_name, database, plugin FROM pg_replication_slots"
            " WHERE database = current_database()"
        )

    def published(self, publication: str) -> list[str]:
        rows = self.query(
            "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = %s",
            (publication,),
        )
        return sorted(r[0] for r in rows)

    def drop(self) -> None:
        # A provider a failed test left is stopped first; one that just exited leaves its
        # walsender a moment: the database cannot be dropped while that slot is active.
        stop_started()
        wait_until(
            "the database's slots to be released",
            lambda: (
                not self.server.query(
                    "SELECT 1 FROM pg_replication_slots WHERE database = %s AND active",
                    (self.name,),
                )
            ),
            10,
            0.05,
        )
        self.server.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        for role in self.roles:
            self.server.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def make_db(pg_server: PgServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Db] = []
    stem = "lc_" + request.node.name[:30].lower()

    def make(suffix: str = "") -> Db:
        db = Db(pg_server, stem + suffix)
        db.execute(
            "CREATE TABLE customers (id int PRIMARY KEY, name text)",
            "CREATE TABLE orders (id int PRIMARY KEY, amount numeric)",
            "CREATE TABLE nopk (v int)",
        )
        made.append(db)
        return db

    yield make
    for db in made:
        db.drop()


def _cfg(dsn: str, *tables: str, **extra: Any) -> dict[str, Any]:
    return {"dsn": dsn, "tables": list(tables or ("customers",)), **extra}


def _refused_run(cfg: dict[str, Any], task: str, state: Any = None) -> tuple[str, str]:
    """A run that must refuse to start: its handshake error and its stderr."""
    p = Provider("run", cfg, task=task, state=state)
    first = p.line()
    assert first is not None and first["status"] == "error", first
    assert p.proc.wait(30) != 0
    return str(first["message"]), p.stderr()


def _ready_run(cfg: dict[str, Any], task: str, state: Any = None) -> None:
    p = Provider("run", cfg, task=task, state=state)
    first = p.line()
    assert first is not None and first["status"] == "ready", p.stderr()
    assert p.stop() == 0


# -- 5: a slot of the same name in another database ------------------------------------------
def test_a_slot_of_the_same_name_in_another_database_is_a_conflict_never_ours(make_db: Any) -> None:
    shop, shop2 = make_db("_a"), make_db("_b")
    assert lifecycle("init", _cfg(shop.dsn), task="orders")["status"] == "Success"
    assert ("dstream_orders", shop.name, "pgoutput") in shop.slots()
    cfg2 = _cfg(shop2.dsn)

    init = lifecycle("init", cfg2, task="orders")
    assert init["status"] == "Failed" and init["exit_code"] != 0, init
    assert f"belongs to database {shop.name}" in init["error"], init["error"]
    assert "slot =" in init["error"]  # the fix: a slot name of the task's own
    assert init["changes"] == [] and shop2.published("dstream_orders") == []
    assert "Traceback" not in init["stderr"]

    plan = lifecycle("plan", cfg2, task="orders")
    assert plan["status"] == "Failed" and f"belongs to database {shop.name}" in plan["error"]

    status = lifecycle("status", cfg2, task="orders")
    slot = next(r for r in status["resources"] if r["type"] == "replication_slot")
    assert slot["details"]["database"] == shop.name
    assert f"belongs to database {shop.name}" in slot["problem"], slot
    assert slot["usable"] is False and "slot =" in slot["hint"], slot  # status fails on it

    message, stderr = _refused_run(cfg2, "orders")
    assert f"belongs to database {shop.name}" in message and "Traceback" not in stderr

    planned = lifecycle("plan", cfg2, task="orders", destroy=True)
    assert not [c for c in planned["changes"] if c["type"] == "replication_slot"], planned
    destroyed = lifecycle("destroy", cfg2, task="orders")
    assert destroyed["status"] == "Success", destroyed
    assert not [c for c in destroyed["changes"] if c["type"] == "replication_slot"]
    assert ("dstream_orders", shop.name, "pgoutput") in shop.slots()


def test_a_checkpoint_older_than_a_re_made_slot_fails_the_run(make_db: Any) -> None:
    """The slot went away and init made it anew: what was committed in between was never
    decoded. Resuming from the old checkpoint would skip it without a word."""
    db = make_db()
    cfg = _cfg(db.dsn)
    assert lifecycle("init", cfg, task="gap")["status"] == "Success"
    start = db.query(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots"
        " WHERE slot_name = 'dstream_gap' AND database = current_database()"
    )[0][0]
    checkpoint = {"lsn": start, "slot": "dstream_gap"}
    _ready_run(cfg, "gap", state=checkpoint)  # the slot this checkpoint came from

    db.execute("SELECT pg_drop_replication_slot('dstream_gap')")
    db.execute("INSERT INTO customers VALUES (1, 'never decoded')")
    init = lifecycle("init", cfg, task="gap")
    assert [c["type"] for c in init["changes"]] == ["replication_slot"], init
    message, stderr = _refused_run(cfg, "gap", state=checkpoint)
    assert "older than replication slot dstream_gap" in message, message
    assert "--reset-state" in message and "dstream state set gap" in message
    assert "Traceback" not in stderr
    _ready_run(cfg, "gap")  # no checkpoint: a fresh start is fine


# -- 6: a DSN libpq cannot parse ----------------------------------------------------------------
@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 dbname=shop user=cdc password=Correct Horse9Battery",
        "postgresql://cdc:Correct%zzHorse9Battery@127.0.0.1/shop",
    ],
)
def test_a_dsn_libpq_cannot_parse_is_named_without_quoting_it(dsn: str) -> None:
    cfg = _cfg(dsn)
    for command in ("plan", "status", "init", "destroy"):
        result = lifecycle(command, cfg, task="leak")
        assert result["status"] == "Failed", result
        assert "'dsn' is not a valid" in result["error"], result["error"]
        for text in (result["error"], result["message"], result["stderr"]):
            assert "Horse9Battery" not in text and "Correct" not in text, text
        assert "Traceback" not in result["stderr"]
    message, stderr = _refused_run(cfg, "leak")
    assert "'dsn' is not a valid" in message
    assert "Horse9Battery" not in message + stderr and "Traceback" not in stderr


# -- 7: privileges ----------------------------------------------------------------------------
def test_a_role_without_create_on_the_database_is_told_which_grant(make_db: Any) -> None:
    db = make_db()
    dsn = db.role("lc_nocreate", "REPLICATION")
    for command in ("plan", "init"):
        result = lifecycle(command, _cfg(dsn), task="priv")
        assert result["status"] == "Failed", result
        assert f'GRANT CREATE ON DATABASE "{db.name}" TO "lc_nocreate"' in result["error"], result
        assert "Traceback" not in result["stderr"]
        assert result["changes"] == []
    assert db.slots() == []


def test_a_role_without_replication_is_told_before_anything_is_made(make_db: Any) -> None:
    db = make_db()
    dsn = db.role("lc_norepl")
    db.execute(f'GRANT CREATE ON DATABASE "{db.name}" TO lc_norepl')
    for command in ("plan", "init"):
        result = lifecycle(command, _cfg(dsn), task="priv")
        assert result["status"] == "Failed", result
        assert "ALTER ROLE" in result["error"] and "REPLICATION" in result["error"], result
        assert "Traceback" not in result["stderr"]
    assert db.published("dstream_priv") == [] and db.slots() == []


def test_a_table_the_role_does_not_own_is_named(make_db: Any) -> None:
    db = make_db()
    dsn = db.role("lc_notowner", "REPLICATION")
    db.execute(f'GRANT CREATE ON DATABASE "{db.name}" TO lc_notowner')
    db.execute("ALTER TABLE orders OWNER TO postgres")
    for command in ("plan", "init"):
        result = lifecycle(command, _cfg(dsn, "customers", "orders"), task="priv")
        assert result["status"] == "Failed", result
        assert "does not own public.orders" in result["error"], result
    assert db.published("dstream_priv") == []


# -- 8: a slot of the task's name made by another plugin -----------------------------------------
def test_a_slot_of_another_plugin_cannot_be_used_and_every_command_says_so(make_db: Any) -> None:
    db = make_db()
    db.execute("SELECT pg_create_logical_replication_slot('dstream_fp', 'test_decoding')")
    cfg = _cfg(db.dsn)
    for command in ("plan", "init"):
        result = lifecycle(command, cfg, task="fp")
        assert result["status"] == "Failed", result
        assert "test_decoding" in result["error"] and "pgoutput" in result["error"], result
        assert result["changes"] == [] and "Traceback" not in result["stderr"]
    assert db.published("dstream_fp") == []

    status = lifecycle("status", cfg, task="fp")
    slot = next(r for r in status["resources"] if r["type"] == "replication_slot")
    assert "test_decoding" in slot["problem"] and slot["usable"] is False, slot

    db.execute("CREATE PUBLICATION dstream_fp FOR TABLE customers")  # as if made by hand
    message, stderr = _refused_run(cfg, "fp")
    assert "test_decoding" in message and "Traceback" not in stderr

    destroyed = lifecycle("destroy", cfg, task="fp")
    assert destroyed["status"] == "Success"
    assert destroyed["changes"] == []  # the publication made by hand is kept, too
    assert "dstream_fp" in destroyed["metadata"]["kept"][0], destroyed
    assert ("dstream_fp", db.name, "test_decoding") in db.slots()  # not ours to drop


# -- 9: an init that fails half-way ----------------------------------------------------------------
def test_an_init_that_fails_half_way_reports_what_it_made(make_db: Any) -> None:
    """Creating a slot waits for every transaction open on the server; a statement
    timeout ends that wait after the publication was made."""
    db = make_db()
    db.execute(f'ALTER DATABASE "{db.name}" SET statement_timeout = 300')
    import psycopg2

    holder = psycopg2.connect(db.dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("SET statement_timeout = 0")
            cur.execute("INSERT INTO orders VALUES (1, 1)")  # an open transaction with an xid
        init = lifecycle("init", _cfg(db.dsn), task="half")
    finally:
        holder.rollback()
        holder.close()
    assert init["status"] == "Failed" and init["exit_code"] != 0, init
    assert [(c["action"], c["type"]) for c in init["changes"]] == [("create", "publication")]
    assert "replication slot dstream_half" in init["error"], init["error"]
    assert "open transaction" in init["error"]
    assert "Traceback" not in init["stderr"]
    again = lifecycle("init", _cfg(db.dsn), task="half")
    assert [c["type"] for c in again["changes"]] == ["replication_slot"], again


def test_a_publication_made_by_an_init_that_failed_half_way_is_destroyed(make_db: Any) -> None:
    """The publication is marked as init's when it is made, not when the slot is: an init
    that fails before the slot leaves one destroy drops, and the init that goes on from
    there keeps the mark."""
    db = make_db()
    cfg = _cfg(db.dsn)

    def comment() -> str:
        rows = db.query("SELECT obj_description(oid, 'pg_publication') FROM pg_publication")
        return str(rows[0][0] or "")

    def failing_init() -> dict[str, Any]:
        """Creating the slot waits for the open transaction, and the timeout ends it."""
        db.execute(f'ALTER DATABASE "{db.name}" SET statement_timeout = 300')
        import psycopg2

        holder = psycopg2.connect(db.dsn)
        try:
            with holder.cursor() as cur:
                cur.execute("SET statement_timeout = 0")
                cur.execute("INSERT INTO orders VALUES (1, 1)")
            return lifecycle("init", cfg, task="pf")
        finally:
            holder.rollback()
            holder.close()
            db.execute(f'ALTER DATABASE "{db.name}" RESET statement_timeout')

    init = failing_init()
    assert [(c["action"], c["type"]) for c in init["changes"]] == [("create", "publication")]
    assert "(made by dstream init)" in comment(), comment()
    destroyed = lifecycle("destroy", cfg, task="pf")
    assert destroyed["status"] == "Success", destroyed
    assert [c["type"] for c in destroyed["changes"]] == ["publication"], destroyed
    assert not destroyed["metadata"].get("kept"), destroyed
    assert db.query("SELECT pubname FROM pg_publication") == []

    failing_init()
    again = lifecycle("init", cfg, task="pf")
    assert [c["type"] for c in again["changes"]] == ["replication_slot"], again
    assert "starts at" in comment() and "(made by dstream init)" in comment(), comment()
    destroyed = lifecycle("destroy", cfg, task="pf")
    assert [c["type"] for c in destroyed["changes"]] == ["replication_slot", "publication"]
    assert db.query("SELECT pubname FROM pg_publication") == [] and db.slots() == []


# -- 10: plan previews init ------------------------------------------------------------------------
def test_plan_refuses_a_table_init_would_refuse(make_db: Any) -> None:
    db = make_db()
    assert lifecycle("init", _cfg(db.dsn), task="ri")["status"] == "Success"
    cfg = _cfg(db.dsn, "customers", "nopk")
    plan = lifecycle("plan", cfg, task="ri")
    assert plan["status"] == "Failed" and plan["exit_code"] != 0, plan
    assert "no replica identity on public.nopk" in plan["error"]
    assert lifecycle("init", cfg, task="ri")["error"] == plan["error"]


def test_a_table_taken_out_of_tables_is_taken_out_of_the_publication(make_db: Any) -> None:
    db = make_db()
    assert lifecycle("init", _cfg(db.dsn, "customers", "orders"), task="rm")["status"] == "Success"
    cfg = _cfg(db.dsn, "customers")
    plan = lifecycle("plan", cfg, task="rm")
    assert [(c["action"], c["type"], c["reason"]) for c in plan["changes"]] == [
        ("update", "publication", "remove public.orders")
    ], plan
    init = lifecycle("init", cfg, task="rm")
    assert init["status"] == "Success", init
    assert [(c["action"], c["reason"]) for c in init["changes"]] == [
        ("update", "remove public.orders")
    ]
    assert db.published("dstream_rm") == ["public.customers"]
    assert lifecycle("plan", cfg, task="rm")["changes"] == []
    both = lifecycle("plan", _cfg(db.dsn, "orders"), task="rm")
    (reason,) = [c["reason"] for c in both["changes"]]
    assert reason == "add public.orders; remove public.customers", reason


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        ("slot", "Orders-Slot", "[a-z0-9_]"),
        ("slot", "s" * 64, "[a-z0-9_]"),
        ("publication", "p" * 64, "longer than 63 bytes"),
    ],
)
def test_a_name_postgres_would_refuse_or_cut_is_a_config_error(
    key: str, value: str, said: str
) -> None:
    """Else plan would show `+ create` for a slot init cannot make, or for a publication
    PostgreSQL makes under a shorter name (and init would try again every time)."""
    p = Provider("plan", _cfg("dbname=x", **{key: value}), task="bad")
    first = p.line()
    assert first is not None and first["status"] == "error", first
    assert f"'{key}'" in first["message"] and said in first["message"], first
    assert p.proc.wait(30) != 0


# -- the publication and `tables` disagree -----------------------------------------------------
# A table added to `tables` and published by `dstream init` while a run reads the old list
# (the documented way to add one: edit, init, reload) had its changes skipped and
# checkpointed past, silently; a run whose publication publishes a table `tables` does
# not list skipped that table's changes.


def _lines_until_end(p: Provider) -> list[dict[str, Any]]:
    lines = []
    while (line := p.line(timeout=60)) is not None:
        lines.append(line)
    return lines


def test_a_table_published_while_a_run_reads_the_old_tables_stops_it_before_its_changes(
    make_db: Any,
) -> None:
    db = make_db()
    old, new = _cfg(db.dsn, "customers"), _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", old, task="grow")["status"] == "Success"
    run = Provider("run", old, task="grow")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    db.execute("INSERT INTO customers VALUES (1, 'before')")
    lines = []
    while not any("data" in line for line in lines):
        line = run.line()
        assert line is not None, run.stderr()
        lines.append(line)
    assert lifecycle("init", new, task="grow")["status"] == "Success"  # publishes orders
    db.execute("INSERT INTO orders VALUES (1, 10)")
    db.execute("INSERT INTO customers VALUES (2, 'after')")
    lines += _lines_until_end(run)
    assert run.proc.wait(30) != 0
    stderr = run.stderr()
    assert "public.orders" in stderr and "added to publication dstream_grow" in stderr, stderr
    # How to go on: `dstream run` refuses a changed input; --reset-state would copy again.
    assert "dstream run grow --resume-changed" in stderr, stderr
    assert "Traceback" not in stderr
    ids = [line["data"]["id"] for line in lines if "data" in line]
    assert ids == [1]  # customers 1; the run stopped before orders' change
    checkpoints = [line["checkpoint"] for line in lines if "checkpoint" in line]

    # The next run, with the new tables, resumes from the last checkpoint: nothing skipped.
    again = Provider("run", new, task="grow", state=checkpoints[-1] if checkpoints else None)
    assert again.line()["status"] == "ready", again.stderr()  # type: ignore[index]
    seen: list[tuple[str, int]] = []
    while ("customers", 2) not in seen:
        line = again.line()
        assert line is not None, again.stderr()
        if "data" in line:
            seen.append((line["metadata"]["TableName"], line["data"]["id"]))
    assert again.stop() == 0
    assert seen[-2:] == [("orders", 1), ("customers", 2)], seen


def _checkpoint_after(run: Provider, insert: str, db: Any) -> Any:
    """Insert, then read until a checkpoint follows that change: its value."""
    db.execute(insert)
    data = False
    while True:
        line = run.line()
        assert line is not None, run.stderr()
        data = data or "data" in line
        if data and "checkpoint" in line:
            return line["checkpoint"]


def test_a_run_says_a_table_added_to_tables_gets_no_copy_of_its_existing_rows(
    make_db: Any,
) -> None:
    """`snapshot = true` copies only on a task's first run: a table added later streamed
    its changes from then on, and its existing rows never came, without a word."""
    db = make_db()
    db.execute("INSERT INTO orders VALUES (1, 10)")  # before orders is captured
    old = _cfg(db.dsn, "customers", snapshot=True)
    new = _cfg(db.dsn, "customers", "orders", snapshot=True)
    assert lifecycle("init", old, task="late")["status"] == "Success"
    run = Provider("run", old, task="late")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    checkpoint = _checkpoint_after(run, "INSERT INTO customers VALUES (1, 'a')", db)
    assert run.stop() == 0
    assert lifecycle("init", new, task="late")["status"] == "Success"  # publishes orders

    again = Provider("run", new, task="late", state=checkpoint)
    assert again.line()["status"] == "ready", again.stderr()  # type: ignore[index]
    later = _checkpoint_after(again, "INSERT INTO orders VALUES (2, 20)", db)
    assert again.stop() == 0
    warnings = [
        orjson.loads(line)
        for line in again.stderr().splitlines()
        if line.startswith("{") and '"warning"' in line
    ]
    told = [w for w in warnings if "public.orders" in str(w.get("tables"))]
    assert len(told) == 1, warnings
    assert "existing rows are not copied" in told[0]["msg"], told
    assert "--reset-state" in told[0]["hint"] and "snapshot" in told[0]["hint"], told

    # The run after it resumes from a checkpoint that covers orders: nothing to say.
    third = Provider("run", new, task="late", state=later)
    assert third.line()["status"] == "ready", third.stderr()  # type: ignore[index]
    assert third.stop() == 0
    assert "existing rows are not copied" not in third.stderr(), third.stderr()


def test_a_table_added_to_tables_is_an_addition_not_a_gap(make_db: Any) -> None:
    """The documented way to add a table (edit `tables`, plan, init, run): neither plan,
    init nor a run started before init calls the new table a gap to re-sync with
    --reset-state (which would copy every table again)."""
    db = make_db()
    db.execute("CREATE TABLE items (id int PRIMARY KEY)")
    old = _cfg(db.dsn, "customers")
    new = _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", old, task="rc")["status"] == "Success"
    run = Provider("run", old, task="rc")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    checkpoint = _checkpoint_after(run, "INSERT INTO customers VALUES (1, 'a')", db)
    assert run.stop() == 0
    assert isinstance(checkpoint.get("table_oids"), list), checkpoint

    for cfg in (new, _cfg(db.dsn, "items")):  # added; or in place of a table still there
        message, stderr = _refused_run(cfg, "rc", state=checkpoint)
        assert "not captured by publication dstream_rc: public." in message, message
        assert "dstream init rc" in message and "Traceback" not in stderr, message
        for alarm in ("dropped and made again", "missing", "--reset-state"):
            assert alarm not in message, message

    plan = lifecycle("plan", new, task="rc")
    assert [c["reason"] for c in plan["changes"]] == ["add public.orders"], plan
    init = lifecycle("init", new, task="rc")
    assert [c["reason"] for c in init["changes"]] == ["add public.orders"], init


def test_a_checkpoint_naming_its_tables_tells_a_gap_from_an_addition(make_db: Any) -> None:
    """A captured table taken out of the publication (its OID in the checkpoint), or
    dropped and made again (an OID of the checkpoint gone): its changes since are
    missing, and the run says so."""
    db = make_db()
    cfg = _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", cfg, task="gp")["status"] == "Success"
    run = Provider("run", cfg, task="gp")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    checkpoint = _checkpoint_after(run, "INSERT INTO customers VALUES (1, 'a')", db)
    assert run.stop() == 0

    db.execute("ALTER PUBLICATION dstream_gp DROP TABLE orders")
    message, _ = _refused_run(cfg, "gp", state=checkpoint)
    assert "public.orders was dropped and made again (or taken out" in message, message
    assert "missing" in message and "--reset-state" in message, message
    assert lifecycle("init", cfg, task="gp")["status"] == "Success"

    db.execute("DROP TABLE customers", "CREATE TABLE customers (id int PRIMARY KEY, name text)")
    message, _ = _refused_run(cfg, "gp", state=checkpoint)
    assert "if public.customers was captured before, it was dropped and made again" in message
    assert "missing" in message and "--reset-state" in message, message

    # init, adding it back, cannot tell it from a table added to `tables`; the run can.
    assert lifecycle("init", cfg, task="gp")["status"] == "Success"
    again = Provider("run", cfg, task="gp", state=checkpoint)
    assert again.line()["status"] == "ready", again.stderr()  # type: ignore[index]
    assert again.stop() == 0
    warnings = [
        orjson.loads(line)
        for line in again.stderr().splitlines()
        if line.startswith("{") and "dropped since" in line
    ]
    assert len(warnings) == 1 and warnings[0]["tables"] == ["public.customers"], warnings
    assert "missing" in warnings[0]["msg"] and "--reset-state" in warnings[0]["hint"], warnings


def test_a_run_refuses_a_publication_that_publishes_a_table_tables_does_not_list(
    make_db: Any,
) -> None:
    db = make_db()
    assert lifecycle("init", _cfg(db.dsn, "customers", "orders"), task="drift")["status"] == (
        "Success"
    )
    message, stderr = _refused_run(_cfg(db.dsn, "customers"), "drift")
    assert "publication dstream_drift also publishes public.orders" in message, message
    assert "dstream init" in message and "Traceback" not in stderr


PARTITIONED = [
    "CREATE TABLE parts (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region)",
    "CREATE TABLE parts_eu PARTITION OF parts FOR VALUES IN ('eu')",
    "CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us')",
]


def test_a_partitioned_table_is_captured_as_itself(make_db: Any) -> None:
    """Its changes arrived as its partitions' (which `tables` does not name, so none was
    captured), and plan and init asked to add it to a publication it was in, for ever."""
    db = make_db()
    db.execute(*PARTITIONED)
    cfg = _cfg(db.dsn, "customers", "parts")
    assert lifecycle("init", cfg, task="part")["status"] == "Success"
    assert db.published("dstream_part") == ["public.customers", "public.parts"]
    assert lifecycle("plan", cfg, task="part")["changes"] == []
    run = Provider("run", cfg, task="part")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    db.execute("INSERT INTO parts VALUES (1, 'eu'), (2, 'us')")
    # A partition attached while the run runs (a new month's) is no table added to it.
    db.execute(
        "CREATE TABLE parts_asia PARTITION OF parts FOR VALUES IN ('asia')",
        "INSERT INTO parts VALUES (3, 'asia')",
    )
    seen = []
    while len(seen) < 3:
        line = run.line()
        assert line is not None, run.stderr()
        if "data" in line:
            seen.append((line["metadata"]["TableName"], line["data"]["id"]))
    assert run.stop() == 0
    assert seen == [("parts", 1), ("parts", 2), ("parts", 3)]


def test_a_publication_that_publishes_partitions_is_fixed_by_init(make_db: Any) -> None:
    db = make_db()
    db.execute(*PARTITIONED, "CREATE PUBLICATION dstream_oldpart FOR TABLE customers, parts")
    cfg = _cfg(db.dsn, "customers", "parts")
    plan = lifecycle("plan", cfg, task="oldpart")
    assert [c["reason"] for c in plan["changes"] if c["type"] == "publication"] == [
        "publish partitioned tables as themselves (publish_via_partition_root)"
    ], plan
    assert lifecycle("init", cfg, task="oldpart")["status"] == "Success"
    assert db.published("dstream_oldpart") == ["public.customers", "public.parts"]
    assert lifecycle("plan", cfg, task="oldpart")["changes"] == []
    _ready_run(cfg, "oldpart")


def test_a_run_refuses_a_publication_that_publishes_partitions(make_db: Any) -> None:
    db = make_db()
    db.execute(
        *PARTITIONED,
        "CREATE PUBLICATION dstream_splitpart FOR TABLE customers, parts",  # an older init's
        "SELECT pg_create_logical_replication_slot('dstream_splitpart', 'pgoutput')",
    )
    message, _ = _refused_run(_cfg(db.dsn, "customers", "parts"), "splitpart")
    assert "publishes the partitioned table public.parts as its partitions" in message, message


def test_a_publication_by_schema_publishes_what_it_does_not_name_by_design(make_db: Any) -> None:
    """FOR TABLES IN SCHEMA (made by hand) publishes tables `tables` does not list, and
    init (which changes named tables only) cannot take them out: a run refused it, with
    a hint to run init, which found nothing to do."""
    db = make_db()
    db.execute(
        "CREATE SCHEMA app",
        "CREATE TABLE app.customers (id int PRIMARY KEY)",
        "CREATE TABLE app.other (id int PRIMARY KEY)",
        "CREATE PUBLICATION dstream_byschema FOR TABLES IN SCHEMA app",
    )
    cfg = _cfg(db.dsn, "app.customers")
    assert lifecycle("init", cfg, task="byschema")["status"] == "Success"
    run = Provider("run", cfg, task="byschema")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    db.execute(
        "CREATE TABLE app.later (id int PRIMARY KEY)",  # published by design: no stop
        "INSERT INTO app.later VALUES (1)",
        "INSERT INTO app.customers VALUES (7)",
    )
    line = run.line()
    while line is not None and "data" not in line:
        line = run.line()
    assert line is not None and line["data"] == {"id": 7}, run.stderr()
    assert run.stop() == 0


def test_destroy_keeps_a_publication_dstream_did_not_create(make_db: Any) -> None:
    """A publication made by hand (shared with other readers) and named in the task's
    config: init leaves it as it is, and destroy (and plan --destroy) keep it, saying so,
    where they drop the slot init made."""
    db = make_db()
    db.execute("CREATE PUBLICATION shared_pub FOR ALL TABLES")
    cfg = _cfg(db.dsn, publication="shared_pub")
    assert lifecycle("init", cfg, task="sh")["status"] == "Success"

    planned = lifecycle("plan", cfg, task="sh", destroy=True)
    assert [c["type"] for c in planned["changes"]] == ["replication_slot"], planned
    assert any("shared_pub" in k for k in planned["metadata"]["kept"]), planned
    # An earlier init marked a publication it noted the slot's start on as its own.
    db.execute(
        "COMMENT ON PUBLICATION shared_pub IS"
        " 'dstream: replication slot dstream_sh starts at 0/1 (made by dstream init)'"
    )
    destroyed = lifecycle("destroy", cfg, task="sh")
    assert destroyed["status"] == "Success", destroyed
    assert [c["type"] for c in destroyed["changes"]] == ["replication_slot"], destroyed
    kept = destroyed["metadata"]["kept"]
    assert len(kept) == 1 and "shared_pub" in kept[0] and "DROP PUBLICATION" in kept[0], kept
    assert db.query("SELECT pubname FROM pg_publication") == [("shared_pub",)]
    assert db.slots() == []

    # dstream's own publication is dropped, as before (also after init re-made the slot).
    own = _cfg(db.dsn)
    assert lifecycle("init", own, task="own")["status"] == "Success"
    db.execute("SELECT pg_drop_replication_slot('dstream_own')")
    assert lifecycle("init", own, task="own")["status"] == "Success"
    destroyed = lifecycle("destroy", own, task="own")
    assert [c["type"] for c in destroyed["changes"]] == ["replication_slot", "publication"]
    assert not destroyed["metadata"].get("kept"), destroyed


def test_a_captured_table_dropped_and_made_again_is_named_as_a_gap(make_db: Any) -> None:
    """A dropped table leaves the publication; the one made again under its name is not
    in it, so its rows were never captured. A run resuming from a checkpoint, and the
    init that adds the table back, say that its changes since are missing and how to
    re-sync, instead of only "not captured, run init"."""
    db = make_db()
    cfg = _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", cfg, task="late")["status"] == "Success"
    start = db.query(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots"
        " WHERE slot_name = 'dstream_late' AND database = current_database()"
    )[0][0]
    checkpoint = {"lsn": start, "slot": "dstream_late"}
    db.execute(
        "DROP TABLE customers",
        "CREATE TABLE customers (id int PRIMARY KEY, name text)",
        "INSERT INTO customers VALUES (10, 'new table row')",
    )
    message, stderr = _refused_run(cfg, "late", state=checkpoint)
    assert "public.customers" in message and "dropped and made again" in message, message
    assert "missing" in message and "--reset-state" in message, message
    assert "Traceback" not in stderr

    init = lifecycle("init", cfg, task="late")
    assert init["status"] == "Success", init
    (change,) = init["changes"]
    assert change["reason"] == "add public.customers", change  # or one added to `tables`
    # Without a checkpoint (a first run) nothing was captured before: no gap to name.
    message, _ = _refused_run({**cfg, "tables": ["customers", "orders", "nopk"]}, "late")
    assert "dropped and made again" not in message, message


def test_a_captured_table_dropped_while_a_run_runs_stops_it_before_its_checkpoint_moves_on(
    make_db: Any,
) -> None:
    """pgoutput says nothing of a dropped table, nor of one made again under its name
    (which is not in the publication): the run checks the captured tables are still
    published before it hands out a checkpoint, and stops before one past the drop."""
    db = make_db()
    cfg = _cfg(db.dsn, "customers", "orders")
    assert lifecycle("init", cfg, task="redo")["status"] == "Success"
    run = Provider("run", cfg, task="redo")
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    db.execute("INSERT INTO customers VALUES (1, 'before')")
    lines = []
    while not any("checkpoint" in line for line in lines):
        line = run.line()
        assert line is not None, run.stderr()
        lines.append(line)
    before_drop = db.query("SELECT pg_current_wal_insert_lsn()::text")[0][0]
    db.execute(
        "DROP TABLE customers",
        "CREATE TABLE customers (id int PRIMARY KEY, name text)",
        "INSERT INTO customers VALUES (10, 'new table row')",
        "INSERT INTO orders VALUES (-5, 1)",
    )
    lines += _lines_until_end(run)
    assert run.proc.wait(30) != 0
    stderr = run.stderr()
    assert "public.customers" in stderr and "no longer in publication" in stderr, stderr
    assert "--reset-state" in stderr and "Traceback" not in stderr
    for checkpoint in (line["checkpoint"] for line in lines if "checkpoint" in line):
        (ok,) = db.query("SELECT %s::pg_lsn <= %s::pg_lsn", (checkpoint["lsn"], before_drop))[0]
        assert ok, (checkpoint, before_drop)  # none past the drop


def _slot_position(db: Db, slot: str) -> str:
    return str(
        db.query(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots"
            " WHERE slot_name = %s AND database = current_database()",
            (slot,),
        )[0][0]
    )


def test_a_publication_made_again_by_hand_after_the_slot_fails_the_run_naming_the_fix(
    make_db: Any,
) -> None:
    """pgoutput reads the publication as the WAL saw it: the slot cannot read past the
    drop, so the run says so and how to make the slot anew, never "nothing is lost"."""
    db = make_db()
    cfg = _cfg(db.dsn)
    assert lifecycle("init", cfg, task="pub")["status"] == "Success"
    checkpoint = {"lsn": _slot_position(db, "dstream_pub"), "slot": "dstream_pub"}
    db.execute(
        "DROP PUBLICATION dstream_pub",
        "INSERT INTO customers VALUES (1, 'in the gap')",
        "CREATE PUBLICATION dstream_pub FOR TABLE customers",
    )
    run = Provider("run", cfg, task="pub", state=checkpoint)
    assert run.line()["status"] == "ready", run.stderr()  # type: ignore[index]
    lines = _lines_until_end(run)
    assert run.proc.wait(30) != 0 and not any("checkpoint" in line for line in lines)
    stderr = run.stderr()
    assert "publication dstream_pub was dropped" in stderr, stderr
    assert "dstream destroy pub" in stderr and "--reset-state" in stderr, stderr
    assert "nothing after the last stored checkpoint is lost" not in stderr
    assert "Traceback" not in stderr


def test_a_publication_init_makes_again_after_the_slot_makes_the_slot_anew(
    make_db: Any,
) -> None:
    db = make_db()
    cfg = _cfg(db.dsn)
    assert lifecycle("init", cfg, task="pubi")["status"] == "Success"
    checkpoint = {"lsn": _slot_position(db, "dstream_pubi"), "slot": "dstream_pubi"}
    db.execute("DROP PUBLICATION dstream_pubi", "INSERT INTO customers VALUES (1, 'in the gap')")
    plan = lifecycle("plan", cfg, task="pubi")
    planned = [(c["action"], c["type"]) for c in plan["changes"]]
    assert planned == [
        ("create", "publication"),
        ("delete", "replication_slot"),
        ("create", "replication_slot"),
    ], plan
    assert "cannot read" in plan["changes"][1]["reason"], plan

    # Made, as if by an init that could not drop the slot (a run held it): status fails.
    db.execute("CREATE PUBLICATION dstream_pubi FOR TABLE customers")
    at = db.query("SELECT pg_current_wal_insert_lsn()::text")[0][0]  # as init notes it
    db.execute(
        f"COMMENT ON PUBLICATION dstream_pubi IS"
        f" 'dstream: publication made at {at} (made by dstream init)'"
    )
    status = lifecycle("status", cfg, task="pubi")
    slot = next(r for r in status["resources"] if r["type"] == "replication_slot")
    assert slot["usable"] is False and "publication dstream_pubi was dropped" in slot["problem"]
    assert "dstream init pubi" in slot["hint"], slot
    message, _ = _refused_run(cfg, "pubi", state=checkpoint)
    assert "publication dstream_pubi was dropped" in message, message

    init = lifecycle("init", cfg, task="pubi")
    assert [(c["action"], c["type"]) for c in init["changes"]] == planned[1:], init
    status = lifecycle("status", cfg, task="pubi")
    assert all(r.get("usable", True) for r in status["resources"]), status
    message, _ = _refused_run(cfg, "pubi", state=checkpoint)  # the gap, and how to re-sync
    assert "older than replication slot dstream_pubi" in message and "--reset-state" in message
