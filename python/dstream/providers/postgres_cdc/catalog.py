"""What the provider asks PostgreSQL's catalog: do the tables exist, are they published,
what state are the publication and the slot in; and the DDL of the lifecycle commands.

Plain SQL on an ordinary psycopg2 connection. Every failure a user can fix becomes a
DstreamError naming the object and the fix.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Optional

from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.config import parse_table_name, quote_ident
from dstream.providers.postgres_cdc.values import SESSION_OPTIONS

PLUGIN = "pgoutput"
# psycopg2 (replication needs it) ships no type information.
PgConnection = Any  # Any: a psycopg2 connection
PgCursor = Any  # Any: a psycopg2 cursor
PgRow = Any  # Any: a psycopg2 row (a tuple of driver values)


def connect(dsn: str, **kwargs: object) -> PgConnection:
    import psycopg2

    try:
        return psycopg2.connect(dsn, options=SESSION_OPTIONS, **kwargs)
    except psycopg2.OperationalError as exc:
        raise DstreamError(
            f"cannot connect to PostgreSQL: {str(exc).strip()}",
            hint="check 'dsn' in the input's config (host, port, user, password, dbname)",
        ) from exc


@dataclass
class Table:
    schema: str
    name: str
    oid: int
    replica_identity: str  # d n f i
    has_primary_key: bool

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def sql_name(self) -> str:
        return f"{quote_ident(self.schema)}.{quote_ident(self.name)}"

    @property
    def publishes_updates_safely(self) -> bool:
        """Whether UPDATE/DELETE on the table keep working once it is published: a table
        without a replica identity rejects them (an error in the user's application)."""
        return (
            self.replica_identity == "f"
            or self.replica_identity == "i"
            or (self.replica_identity == "d" and self.has_primary_key)
        )


_TABLES_SQL = """
SELECT n.nspname, c.relname, c.oid::int8, c.relreplident,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def resolve_tables(conn: PgConnection, names: list[str], default_schema: str) -> list[Table]:
    """The configured tables, each matched exactly or else case-insensitively (an unquoted
    `Orders` finds `orders`). One error lists every table that does not exist."""
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        rows = cur.fetchall()
    conn.rollback()
    exact = {(r[0], r[1]): Table(r[0], r[1], int(r[2]), str(r[3]), bool(r[4])) for r in rows}
    folded: dict[tuple[str, str], list[Table]] = {}
    for known_table in exact.values():
        key = (known_table.schema.lower(), known_table.name.lower())
        folded.setdefault(key, []).append(known_table)

    found: list[Table] = []
    missing: list[str] = []
    for text in names:
        schema, name = parse_table_name(text, default_schema)
        table: Optional[Table] = exact.get((schema, name))
        if table is None:
            candidates = folded.get((schema.lower(), name.lower()), [])
            table = candidates[0] if len(candidates) == 1 else None
        if table is None:
            known = [t.qualified for t in exact.values()]
            guess = difflib.get_close_matches(f"{schema}.{name}", known, n=1)
            missing.append(
                f"'{text}' (looked for {schema}.{name}"
                + (f"; did you mean {guess[0]}?)" if guess else ")")
            )
        elif table not in found:
            found.append(table)
    if missing:
        raise DstreamError(
            "table"
            + ("s" if len(missing) > 1 else "")
            + " not found in the database: "
            + "; ".join(missing),
            hint="fix 'tables' in the input's config (schema.table or a bare name in "
            "default_schema), or create the table",
        )
    return found


@dataclass
class SlotInfo:
    name: str
    plugin: str
    database: str
    active: bool
    active_pid: Optional[int]
    restart_lsn: Optional[str]
    confirmed_flush_lsn: Optional[str]
    retained_wal_bytes: Optional[int]


@dataclass
class Inspection:
    wal_level: str
    publication_exists: bool
    published: set[tuple[str, str]] = field(default_factory=set)
    publishes_all_tables: bool = False
    slot: Optional[SlotInfo] = None


def inspect(conn: PgConnection, publication: str, slot: str) -> Inspection:
    with conn.cursor() as cur:
        cur.execute("SHOW wal_level")
        wal_level = str(cur.fetchone()[0])
        cur.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (publication,))
        pub = cur.fetchone()
        published: set[tuple[str, str]] = set()
        if pub is not None:
            cur.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                (publication,),
            )
            published = {(r[0], r[1]) for r in cur.fetchall()}
        cur.execute(
            """
            SELECT slot_name, plugin, database, active, active_pid,
                   restart_lsn::text, confirmed_flush_lsn::text,
                   pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8
            FROM pg_replication_slots WHERE slot_name = %s
            """,
            (slot,),
        )
        row = cur.fetchone()
    conn.rollback()
    info = None
    if row is not None:
        info = SlotInfo(
            name=row[0],
            plugin=row[1],
            database=row[2],
            active=bool(row[3]),
            active_pid=row[4],
            restart_lsn=row[5],
            confirmed_flush_lsn=row[6],
            retained_wal_bytes=None if row[7] is None else int(row[7]),
        )
    return Inspection(
        wal_level=wal_level,
        publication_exists=pub is not None,
        published=published,
        publishes_all_tables=bool(pub and pub[0]),
        slot=info,
    )


def require_logical_wal(state: Inspection) -> None:
    if state.wal_level != "logical":
        raise DstreamError(
            f"the server runs with wal_level={state.wal_level}; logical replication needs "
            "wal_level=logical",
            hint="set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET "
            "wal_level = logical) and restart PostgreSQL",
        )


def unpublished(state: Inspection, tables: list[Table]) -> list[Table]:
    if state.publishes_all_tables:
        return []
    return [t for t in tables if (t.schema, t.name) not in state.published]


def create_or_update_publication(
    conn: PgConnection, publication: str, tables: list[Table], state: Inspection
) -> Optional[str]:
    """Make the publication publish (at least) `tables`. Returns what was done, or None."""
    names = ", ".join(t.sql_name for t in tables)
    with conn.cursor() as cur:
        if not state.publication_exists:
            cur.execute(f"CREATE PUBLICATION {quote_ident(publication)} FOR TABLE {names}")
            done: Optional[str] = "created"
        else:
            missing = unpublished(state, tables)
            if not missing:
                return None
            added = ", ".join(t.sql_name for t in missing)
            cur.execute(f"ALTER PUBLICATION {quote_ident(publication)} ADD TABLE {added}")
            done = "added " + ", ".join(t.qualified for t in missing)
    conn.commit()
    return done


def create_slot(conn: PgConnection, slot: str) -> str:
    """Create the logical slot (pgoutput). Returns its start LSN."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (slot, PLUGIN)
        )
        lsn = str(cur.fetchone()[0])
    conn.commit()
    return lsn


def drop_slot(conn: PgConnection, slot: SlotInfo) -> None:
    if slot.active:
        raise DstreamError(
            f"replication slot {slot.name} is in use by the process with pid {slot.active_pid}",
            hint="stop the task that reads it (or that backend), then run destroy again",
        )
    with conn.cursor() as cur:
        cur.execute("SELECT pg_drop_replication_slot(%s)", (slot.name,))
    conn.commit()


def drop_publication(conn: PgConnection, publication: str) -> None:
    with conn.cursor() as cur:
        cur.execute(f"DROP PUBLICATION IF EXISTS {quote_ident(publication)}")
    conn.commit()


def domain_base_types(conn: PgConnection) -> dict[int, int]:
    """Domain OID -> base type OID, so a domain over numeric is typed as numeric."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH RECURSIVE d(oid, base) AS (
              SELECT oid, typbasetype FROM pg_type WHERE typtype = 'd'
              UNION ALL
              SELECT d.oid, t.typbasetype FROM d JOIN pg_type t ON t.oid = d.base
              WHERE t.typtype = 'd')
            SELECT d.oid::int8, d.base::int8 FROM d JOIN pg_type t ON t.oid = d.base
            WHERE t.typtype <> 'd'
            """
        )
        rows = cur.fetchall()
    conn.rollback()
    return {int(r[0]): int(r[1]) for r in rows}
