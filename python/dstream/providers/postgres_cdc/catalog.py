"""What the provider asks PostgreSQL's catalog: do the tables exist, are they published,
what state are the publication and the slot in; what init has to do; and the DDL of the
lifecycle commands. What would stop a command is checks.py's.

Plain SQL on an ordinary psycopg2 connection (pgerrors.connect). Every failure a user
can fix becomes a DstreamError naming the object and the fix. `plan` and `init` share
`work()` (what init has to do) and checks.refuse_blocked() (what would stop it), so a
plan previews init exactly.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Optional

from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.config import parse_table_name, quote_ident
from dstream.providers.postgres_cdc.pgerrors import (
    CONFIGURATION_LIMIT_EXCEEDED,
    INSUFFICIENT_PRIVILEGE,
    QUERY_CANCELED,
    PgConnection,
    PgCursor,
    PgRow,
    server_errors,
)
from dstream.providers.postgres_cdc.pgoutput import parse_lsn
from dstream.providers.postgres_cdc.values import DERIVED_TYPES_SQL, convert_as

PLUGIN = "pgoutput"
RERUN = "fix the cause in PostgreSQL, then run init again (it keeps what exists)"
RERUN_DESTROY = "fix the cause in PostgreSQL, then run destroy again (it skips what is gone)"


@dataclass
class Table:
    schema: str
    name: str
    oid: int
    replica_identity: str  # d n f i
    has_primary_key: bool
    owned: bool = True  # the role may act as its owner (add it to a publication)
    partitioned: bool = False  # its rows live in partitions (published via the root)

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
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary),
       pg_has_role(c.relowner, 'USAGE'), c.relkind = 'p'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def resolve_tables(
    conn: PgConnection, names: list[str], default_schema: str, then: Optional[str] = None
) -> list[Table]:
    """The configured tables, each matched exactly or else case-insensitively (an unquoted
    `Orders` finds `orders`). One error lists every table that does not exist, its hint
    ending with `then` (what to do once 'tables' is fixed)."""
    with conn.cursor() as cur:
        cur.execute(_TABLES_SQL)
        rows = cur.fetchall()
    conn.rollback()
    exact = {
        (r[0], r[1]): Table(r[0], r[1], int(r[2]), str(r[3]), bool(r[4]), bool(r[5]), bool(r[6]))
        for r in rows
    }
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
            "default_schema), or create the table" + (f"; then {then}" if then else ""),
            field="tables",
        )
    return found


@dataclass
class SlotInfo:
    name: str
    plugin: Optional[str]  # None for a physical slot
    database: Optional[str]  # None for a physical slot
    active: bool
    active_pid: Optional[int]
    restart_lsn: Optional[str]
    confirmed_flush_lsn: Optional[str]
    retained_wal_bytes: Optional[int]
    # pg_replication_slots.wal_status: "lost" once PostgreSQL invalidated the slot (it
    # fell further behind than max_slot_wal_keep_size): it can never be read again.
    wal_status: Optional[str] = None

    @property
    def lost(self) -> bool:
        return self.wal_status == "lost"

    @property
    def position(self) -> Optional[int]:
        """The slot's confirmed position: what it reads from."""
        return parse_lsn(self.confirmed_flush_lsn) if self.confirmed_flush_lsn else None


@dataclass
class Inspection:
    publication: str
    wal_level: str
    database: str
    role: str
    publication_exists: bool
    published: set[tuple[str, str]] = field(default_factory=set)
    published_oids: set[int] = field(default_factory=set)  # the same tables, by OID
    # Tables named in the publication itself (FOR TABLE): the ones init can take out.
    listed: set[tuple[str, str]] = field(default_factory=set)
    publishes_all_tables: bool = False
    # FOR TABLES IN SCHEMA (made by hand): it publishes tables it does not name, and init,
    # which changes only the named ones, leaves those as they are.
    publishes_by_schema: bool = False
    # publish_via_partition_root: a partitioned table's changes arrive as the table's,
    # not as its partitions' (which `tables` does not name).
    via_root: bool = False
    publication_owner: Optional[str] = None
    publication_owned: bool = False
    # Made by `dstream init` (its comment carries MADE_BY): destroy drops only such a one.
    publication_ours: bool = False
    # The slot of the configured name in this database, decoding with pgoutput: ours.
    slot: Optional[SlotInfo] = None
    # A slot of that name that cannot be ours (slot names are per server, not per
    # database): in another database, of another plugin, or physical.
    foreign_slot: Optional[SlotInfo] = None
    # Where init made the slot, as it noted on the publication (see record_slot_start).
    slot_start: Optional[int] = None
    # Where init made the publication while the slot was there (see record_made).
    publication_start: Optional[int] = None
    can_create_publication: bool = False  # CREATE on the database
    can_replicate: bool = False  # REPLICATION (or superuser)


_SLOT_SQL = """
SELECT slot_name, plugin, database, active, active_pid, restart_lsn::text,
       confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8,
       wal_status
FROM pg_replication_slots WHERE slot_name = %s
"""
_ROLE_SQL = """
SELECT current_database(), current_user, has_database_privilege(current_database(), 'CREATE'),
       (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user)
"""
_PUBLICATION_SQL = """
SELECT oid, puballtables, pubowner::regrole::text, pg_has_role(pubowner, 'USAGE'),
       obj_description(oid, 'pg_publication'), pubviaroot
FROM pg_publication WHERE pubname = %s
"""
_LISTED_SQL = """
SELECT n.nspname, c.relname FROM pg_publication_rel r
JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.prpubid = %s
"""


def replication_end(conn: PgConnection, slot: str) -> tuple[Optional[str], int]:
    """What may have ended a slot's replication: the slot's wal_status (None: no such
    slot) and the server's wal_sender_timeout in milliseconds (0: none)."""
    with server_errors("read PostgreSQL's catalog", {}, "check that the server is up"):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT (SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s), "
                "(SELECT setting::int8 FROM pg_settings WHERE name = 'wal_sender_timeout')",
                (slot,),
            )
            status, timeout = cur.fetchone()
        conn.rollback()
    return (None if status is None else str(status)), int(timeout or 0)


def inspect(conn: PgConnection, publication: str, slot: str) -> Inspection:
    with server_errors("read PostgreSQL's catalog", {}, "check that the server is up"):
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            wal_level = str(cur.fetchone()[0])
            cur.execute(_ROLE_SQL)
            database, role, can_create, can_replicate = cur.fetchone()
            found = Inspection(publication, wal_level, str(database), str(role), False)
            found.can_create_publication = bool(can_create)
            found.can_replicate = bool(can_replicate)
            cur.execute(_PUBLICATION_SQL, (publication,))
            pub = cur.fetchone()
            if pub is not None:
                _read_publication(cur, found, slot, pub)
            cur.execute(_SLOT_SQL, (slot,))
            row = cur.fetchone()
        conn.rollback()
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
            wal_status=row[8],
        )
        if info.database == found.database and info.plugin == PLUGIN:
            found.slot = info
        else:
            found.foreign_slot = info
    return found


def _read_publication(cur: PgCursor, found: Inspection, slot: str, pub: PgRow) -> None:
    oid, all_tables, owner, owned, comment, via_root = pub
    found.publication_exists = True
    found.publishes_all_tables = bool(all_tables)
    found.via_root = bool(via_root)
    found.publication_owner, found.publication_owned = str(owner), bool(owned)
    found.slot_start = _noted_start(comment, slot)
    made = _MADE_AT.match(comment or "")
    found.publication_start = parse_lsn(made.group(1)) if made else None
    cur.execute("SELECT EXISTS (SELECT 1 FROM pg_publication_namespace WHERE pnpubid = %s)", (oid,))
    found.publishes_by_schema = bool(cur.fetchone()[0])
    # init only ever makes one FOR TABLE; an earlier init marked any publication it noted
    # the slot's start on, so the mark alone does not tell one made by hand.
    made_by_hand = found.publishes_all_tables or found.publishes_by_schema
    found.publication_ours = MADE_BY in (comment or "") and not made_by_hand
    cur.execute(
        "SELECT schemaname, tablename, "
        "(quote_ident(schemaname) || '.' || quote_ident(tablename))::regclass::oid::int8 "
        "FROM pg_publication_tables WHERE pubname = %s",
        (found.publication,),
    )
    rows = cur.fetchall()
    found.published = {(r[0], r[1]) for r in rows}
    found.published_oids = {int(r[2]) for r in rows}
    cur.execute(_LISTED_SQL, (oid,))
    found.listed = {(r[0], r[1]) for r in cur.fetchall()}


def named_oids(conn: PgConnection, publication: str) -> Optional[set[int]]:
    """The OIDs of the tables `publication` names (FOR TABLE), None when there is no such
    publication. Errors as psycopg2 raises them: the caller decides what one means."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT r.prrelid::int8 FROM pg_publication p LEFT JOIN pg_publication_rel r "
            "ON r.prpubid = p.oid WHERE p.pubname = %s",
            (publication,),
        )
        rows = cur.fetchall()
    conn.rollback()
    return {int(row[0]) for row in rows if row[0] is not None} if rows else None


def gone_tables(conn: PgConnection, oids: set[int]) -> set[int]:
    """Those of the table OIDs `oids` that no table has any more (the table was dropped)."""
    if not oids:
        return set()
    with server_errors("read PostgreSQL's catalog", {}, "check that the server is up"):
        with conn.cursor() as cur:
            cur.execute(
                "SELECT o FROM unnest(%s::int8[]) o WHERE NOT EXISTS (SELECT 1 FROM pg_class c "
                "WHERE c.oid::int8 = o AND c.relkind IN ('r', 'p'))",
                (sorted(oids),),
            )
            rows = cur.fetchall()
        conn.rollback()
    return {int(r[0]) for r in rows}


def slot_predates_publication(state: Inspection) -> bool:
    """Whether init made the publication again after the slot's position: pgoutput reads
    the publication as it was when each change was written, so the slot cannot read the
    changes between (it fails on the first, "publication ... does not exist")."""
    position = state.slot.position if state.slot is not None else None
    start = state.publication_start
    return position is not None and start is not None and position < start


def unpublished(state: Inspection, tables: list[Table]) -> list[Table]:
    """The tables the publication does not have: neither publishes (a partitioned one
    without publish_via_partition_root publishes its partitions) nor names."""
    if state.publishes_all_tables:
        return []
    have = state.published | state.listed
    return [t for t in tables if (t.schema, t.name) not in have]


def by_partition(state: Inspection, tables: list[Table]) -> list[Table]:
    """The partitioned tables whose changes would arrive as their partitions'."""
    if state.via_root:
        return []
    return [t for t in tables if t.partitioned]


def unlisted(state: Inspection, tables: list[Table]) -> list[str]:
    """The tables the publication names and `tables` does not list: init takes them out.
    (What a publication made by hand FOR ALL TABLES or FOR TABLES IN SCHEMA publishes
    beyond the tables it names is so by design: not these.)"""
    if state.publishes_all_tables:
        return []
    wanted = {(t.schema, t.name) for t in tables}
    return sorted(f"{schema}.{name}" for schema, name in state.listed - wanted)


def publishes_by_design(state: Inspection) -> bool:
    """Whether the publication (made by hand) publishes tables it does not name, new ones
    included: every table, or every table of a schema."""
    return state.publishes_all_tables or state.publishes_by_schema


_MADE_AT = re.compile(r"^dstream: publication made at ([0-9A-F]+/[0-9A-F]+)\b")
_NOTE = re.compile(r"^dstream: replication slot (\S+) starts at ([0-9A-F]+/[0-9A-F]+)\b")


def _noted_start(comment: Optional[str], slot: str) -> Optional[int]:
    found = _NOTE.match(comment or "")
    return parse_lsn(found.group(2)) if found and found.group(1) == slot else None


# The mark init leaves in the comment of a publication it created (and only there):
# destroy drops a publication only when it carries it, never one made by hand.
MADE_BY = "(made by dstream init)"
# The comment init gives a publication as it creates it (record_made and
# record_slot_start note more later, keeping MADE_BY).
MADE_NOTE = f"dstream: {MADE_BY}"


def record_slot_start(
    conn: PgConnection, publication: str, slot: str, lsn: str, *, ours: bool
) -> None:
    """Note where init made the slot, on the task's publication (PostgreSQL keeps no
    creation point of a slot): a run resuming from a checkpoint before it would otherwise
    skip what was committed while the slot was gone (checks.require_usable_slot). `ours`:
    the publication is init's (MADE_BY), which the note keeps saying."""
    note = f"dstream: replication slot {slot} starts at {lsn}" + (f" {MADE_BY}" if ours else "")
    _comment(conn, publication, note)


def record_made(conn: PgConnection, publication: str) -> None:
    """Note where init made the publication while the slot was there already (as init's,
    MADE_BY): a slot whose position is before it cannot read it
    (slot_predates_publication). Where the WAL is inserted, not pg_current_wal_lsn():
    that is where it has been written, which lags behind (synchronous_commit = off), so
    a publication made after the slot's position could be noted at or before it."""
    with server_errors("read the WAL position", {}, RERUN):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_current_wal_insert_lsn()::text")
            at = str(cur.fetchone()[0])
        conn.rollback()
    _comment(conn, publication, f"dstream: publication made at {at} {MADE_BY}")


def _comment(conn: PgConnection, publication: str, note: str) -> None:
    with server_errors(f"comment on publication {publication}", {}, RERUN):
        with conn.cursor() as cur:
            cur.execute(f"COMMENT ON PUBLICATION {quote_ident(publication)} IS %s", (note,))
        conn.commit()


def kept_publication(publication: str) -> str:
    """Why destroy keeps a publication init did not create, and what to do."""
    return (
        f"publication {publication} was not made by dstream init (its comment lacks "
        f'"{MADE_BY}"), so destroy keeps it: other readers may use it; if nothing does, '
        f"drop it: DROP PUBLICATION {quote_ident(publication)}"
    )


# -- what init has to do, and what would stop it -------------------------------------------
@dataclass
class Work:
    create_publication: bool = False
    add: list[Table] = field(default_factory=list)
    remove: list[tuple[str, str]] = field(default_factory=list)  # (schema, table)
    create_slot: bool = False
    # Why the slot is dropped and made anew (create_slot too), or "": it was invalidated,
    # or it cannot read the publication (UNREADABLE_SLOT).
    remake_slot: str = ""
    via_root: bool = False  # set publish_via_partition_root (a partitioned table is listed)

    @property
    def publication_change(self) -> str:
        """What changes in an existing publication, as plan and init say it."""
        parts = []
        if self.add:
            parts.append("add " + ", ".join(t.qualified for t in self.add))
        if self.remove:
            parts.append("remove " + ", ".join(f"{s}.{t}" for s, t in sorted(self.remove)))
        if self.via_root:
            parts.append("publish partitioned tables as themselves (publish_via_partition_root)")
        return "; ".join(parts)


def work(state: Inspection, tables: list[Table]) -> Work:
    """What init must do so that the publication publishes exactly `tables` and the slot
    exists. A publication FOR ALL TABLES (made by hand) is left as it is."""
    remake = _remake_slot(state)
    new_slot = state.slot is None or bool(remake)
    if not state.publication_exists:
        return Work(
            create_publication=True, add=list(tables), create_slot=new_slot, remake_slot=remake
        )
    wanted = {(t.schema, t.name) for t in tables}
    remove = [] if state.publishes_all_tables else sorted(state.listed - wanted)
    via_root = not state.via_root and any(t.partitioned for t in tables)
    return Work(
        add=unpublished(state, tables),
        remove=remove,
        create_slot=new_slot,
        remake_slot=remake,
        via_root=via_root,
    )


LOST_SLOT = "invalidated by PostgreSQL (wal_status lost)"
UNREADABLE_SLOT = (
    "its position is before the publication was made (again): it cannot read the "
    "publication, as the WAL saw it, at its position"
)


def _remake_slot(state: Inspection) -> str:
    """Why the task's slot must be made anew, or "": PostgreSQL invalidated it, or the
    publication is gone (init makes it now, after the slot's position) or was made again
    after that position."""
    if state.slot is None:
        return ""
    if state.slot.lost:
        return LOST_SLOT
    if not state.publication_exists or slot_predates_publication(state):
        return UNREADABLE_SLOT
    return ""


# -- the DDL of init and destroy ------------------------------------------------------------
_PUBLICATION_HINTS = {
    INSUFFICIENT_PRIVILEGE: "the role needs the CREATE privilege on the database and must "
    "own each table (or be superuser)",
}


def apply_publication(
    conn: PgConnection, publication: str, tables: list[Table], todo: Work
) -> None:
    """Create the publication (marked init's, MADE_NOTE), or add and remove tables, in
    one transaction."""
    name = quote_ident(publication)
    with server_errors(f"change publication {publication}", _PUBLICATION_HINTS, RERUN):
        with conn.cursor() as cur:
            if todo.create_publication:
                names = ", ".join(t.sql_name for t in tables)
                cur.execute(
                    f"CREATE PUBLICATION {name} FOR TABLE {names} "
                    "WITH (publish_via_partition_root = true)"
                )
                # Marked init's as it is made: an init failing after it (at the slot)
                # leaves one destroy drops, and the next init knows it for its own.
                cur.execute(f"COMMENT ON PUBLICATION {name} IS %s", (MADE_NOTE,))
            if todo.add and not todo.create_publication:
                added = ", ".join(t.sql_name for t in todo.add)
                cur.execute(f"ALTER PUBLICATION {name} ADD TABLE {added}")
            if todo.remove:
                removed = ", ".join(f"{quote_ident(s)}.{quote_ident(t)}" for s, t in todo.remove)
                cur.execute(f"ALTER PUBLICATION {name} DROP TABLE {removed}")
            if todo.via_root:
                cur.execute(f"ALTER PUBLICATION {name} SET (publish_via_partition_root = true)")
        conn.commit()


_SLOT_HINTS = {
    INSUFFICIENT_PRIVILEGE: "the role needs the REPLICATION attribute (ALTER ROLE ... "
    "REPLICATION, as a superuser)",
    QUERY_CANCELED: "creating a slot waits until every open transaction on the server has "
    "ended, and a statement_timeout (or a cancel) ended that wait: end the long open "
    "transaction (see pg_stat_activity) or lift statement_timeout for this role, then "
    "run init again",
    CONFIGURATION_LIMIT_EXCEEDED: "every replication slot is taken: raise "
    "max_replication_slots (a restart) or drop a slot nothing reads",
}


def create_slot(conn: PgConnection, slot: str) -> str:
    """Create the logical slot (pgoutput). Returns its start LSN."""
    with server_errors(f"create replication slot {slot}", _SLOT_HINTS, RERUN):
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
    with server_errors(f"drop replication slot {slot.name}", {}, RERUN_DESTROY):
        with conn.cursor() as cur:
            # Only this database's: gone meanwhile is done, another database's never ours.
            cur.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                "WHERE slot_name = %s AND database = current_database()",
                (slot.name,),
            )
        conn.commit()


def drop_publication(conn: PgConnection, publication: str) -> None:
    with server_errors(f"drop publication {publication}", {}, RERUN_DESTROY):
        with conn.cursor() as cur:
            cur.execute(f"DROP PUBLICATION IF EXISTS {quote_ident(publication)}")
        conn.commit()


def domain_base_types(conn: PgConnection) -> dict[int, int]:
    """Derived type OID -> the built-in type OID its values convert as (values.convert_as):
    a domain over numeric as numeric, an array of enums as text[]."""
    with conn.cursor() as cur:
        cur.execute(DERIVED_TYPES_SQL)
        rows = cur.fetchall()
    conn.rollback()
    return convert_as((int(r[0]), int(r[1]), bool(r[2])) for r in rows)
