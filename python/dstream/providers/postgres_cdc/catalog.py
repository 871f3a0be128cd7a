"""What the provider asks PostgreSQL's catalog: do the tables exist, are they published,
what state are the publication and the slot in, may this role change them; and the DDL
of the lifecycle commands.

Plain SQL on an ordinary psycopg2 connection. Every failure a user can fix becomes a
DstreamError naming the object and the fix. `plan` and `init` share `work()` (what init
has to do) and `refuse_blocked()` (what would stop it), so a plan previews init exactly.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

from dstream.errors import DstreamError
from dstream.providers.postgres_cdc.config import fold_slot_name, parse_table_name, quote_ident
from dstream.providers.postgres_cdc.pgoutput import format_lsn, parse_lsn
from dstream.providers.postgres_cdc.values import DERIVED_TYPES_SQL, SESSION_OPTIONS, convert_as

PLUGIN = "pgoutput"
# psycopg2 (replication needs it) ships no type information.
PgConnection = Any  # Any: a psycopg2 connection
PgCursor = Any  # Any: a psycopg2 cursor
PgRow = Any  # Any: a psycopg2 row (a tuple of driver values)


def connect(dsn: str, **kwargs: object) -> PgConnection:
    import psycopg2

    try:
        return psycopg2.connect(dsn, options=SESSION_OPTIONS, **kwargs)
    except psycopg2.ProgrammingError:
        # Not chained: its text quotes the DSN, which no traceback may print either.
        raise unparsable_dsn() from None
    except psycopg2.OperationalError as exc:
        raise DstreamError(
            f"cannot connect to PostgreSQL: {str(exc).strip()}",
            hint="check 'dsn' in the input's config (host, port, user, password, dbname)",
        ) from exc


def unparsable_dsn() -> DstreamError:
    """For a DSN libpq cannot parse (psycopg2.ProgrammingError "invalid dsn: ..."): libpq's
    message quotes the piece it stopped at, which can be part of a password (one with a
    space), so this one names no part of the DSN."""
    return DstreamError(
        "'dsn' is not a valid libpq connection string or postgres:// URL (libpq's message "
        "is not shown: it quotes part of the string, which may be the password)",
        hint="write key=value pairs separated by spaces, with a value holding spaces or "
        "quotes in single quotes (password='two words'); in a URL, percent-encode such "
        "characters (%20 for a space)",
    )


@contextmanager
def server_errors(what: str, hints: Mapping[str, str], default_hint: str) -> Iterator[None]:
    """A psycopg2 error inside the block becomes a DstreamError saying what could not be
    done, in the server's words, with the hint its SQLSTATE (`hints`: code -> hint) calls for."""
    import psycopg2

    try:
        yield
    except psycopg2.Error as exc:
        words = exc.diag.message_primary or str(exc).strip() or type(exc).__name__
        raise DstreamError(
            f"cannot {what}: {words}", hint=hints.get(exc.pgcode or "", default_hint)
        ) from exc


# SQLSTATEs (psycopg2.errorcodes): here so that the module imports without psycopg2.
INSUFFICIENT_PRIVILEGE = "42501"
QUERY_CANCELED = "57014"
CONFIGURATION_LIMIT_EXCEEDED = "53400"
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
       pg_has_role(c.relowner, 'USAGE')
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
    exact = {
        (r[0], r[1]): Table(r[0], r[1], int(r[2]), str(r[3]), bool(r[4]), bool(r[5])) for r in rows
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
            "default_schema), or create the table",
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


@dataclass
class Inspection:
    publication: str
    wal_level: str
    database: str
    role: str
    publication_exists: bool
    published: set[tuple[str, str]] = field(default_factory=set)
    # Tables named in the publication itself (FOR TABLE): the ones init can take out.
    listed: set[tuple[str, str]] = field(default_factory=set)
    publishes_all_tables: bool = False
    publication_owner: Optional[str] = None
    publication_owned: bool = False
    # The slot of the configured name in this database, decoding with pgoutput: ours.
    slot: Optional[SlotInfo] = None
    # A slot of that name that cannot be ours (slot names are per server, not per
    # database): in another database, of another plugin, or physical.
    foreign_slot: Optional[SlotInfo] = None
    # Where init made the slot, as it noted on the publication (see record_slot_start).
    slot_start: Optional[int] = None
    can_create_publication: bool = False  # CREATE on the database
    can_replicate: bool = False  # REPLICATION (or superuser)


_SLOT_SQL = """
SELECT slot_name, plugin, database, active, active_pid, restart_lsn::text,
       confirmed_flush_lsn::text, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::int8
FROM pg_replication_slots WHERE slot_name = %s
"""
_ROLE_SQL = """
SELECT current_database(), current_user, has_database_privilege(current_database(), 'CREATE'),
       (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user)
"""
_PUBLICATION_SQL = """
SELECT oid, puballtables, pubowner::regrole::text, pg_has_role(pubowner, 'USAGE'),
       obj_description(oid, 'pg_publication')
FROM pg_publication WHERE pubname = %s
"""
_LISTED_SQL = """
SELECT n.nspname, c.relname FROM pg_publication_rel r
JOIN pg_class c ON c.oid = r.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.prpubid = %s
"""


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
        )
        if info.database == found.database and info.plugin == PLUGIN:
            found.slot = info
        else:
            found.foreign_slot = info
    return found


def _read_publication(cur: PgCursor, found: Inspection, slot: str, pub: PgRow) -> None:
    oid, all_tables, owner, owned, comment = pub
    found.publication_exists = True
    found.publishes_all_tables = bool(all_tables)
    found.publication_owner, found.publication_owned = str(owner), bool(owned)
    found.slot_start = _noted_start(comment, slot)
    cur.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
        (found.publication,),
    )
    found.published = {(r[0], r[1]) for r in cur.fetchall()}
    cur.execute(_LISTED_SQL, (oid,))
    found.listed = {(r[0], r[1]) for r in cur.fetchall()}


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


# -- a slot of the task's name that is not ours --------------------------------------------
def slot_conflict(state: Inspection, task: Optional[str]) -> Optional[DstreamError]:
    """Why the slot of the configured name cannot be this task's, or None. Never taken
    for ours, never dropped: it belongs to another database or another tool."""
    other = state.foreign_slot
    if other is None:
        return None
    own = fold_slot_name(f"{other.name}_{state.database}")
    fix = (
        f'give the task a slot of its own: slot = "{own}" in the input\'s config, then '
        f"`dstream init {task or '<task>'}`"
    )
    if other.database is None:
        what = "is a physical slot (a standby's), not a logical one"
    elif other.database != state.database:
        what = (
            f"belongs to database {other.database}, not to this task's database "
            f"{state.database} (slot names are shared by the whole server)"
        )
    else:
        what = f"decodes with {other.plugin}, and dstream-postgres-cdc reads {PLUGIN}"
        fix += (
            "; or, if nothing reads that slot any more, drop it: "
            f"SELECT pg_drop_replication_slot('{other.name}')"
        )
    return DstreamError(f"replication slot {other.name} {what}: it cannot be this task's", hint=fix)


def require_usable_slot(state: Inspection, resume_lsn: int, task: Optional[str]) -> None:
    """Before a run: the slot is not another's, and it is not younger than the checkpoint
    the run resumes from (the changes in between were never decoded: refuse, never skip
    them silently)."""
    conflict = slot_conflict(state, task)
    if conflict is not None:
        raise conflict
    start = state.slot_start
    if state.slot is None or start is None or not resume_lsn or resume_lsn >= start:
        return
    name, at = state.slot.name, format_lsn(start)
    accept = f'{{"lsn": "{at}", "slot": "{name}"}}'
    raise DstreamError(
        f"the saved checkpoint (LSN {format_lsn(resume_lsn)}) is older than replication "
        f"slot {name}, which `dstream init` made at {at}: changes committed between them "
        "were never captured (the slot was dropped and made anew)",
        hint=f"re-sync: `dstream run {task or '<task>'} --reset-state` (with snapshot = true "
        "to copy the tables first); or accept the gap: "
        f"`dstream state set {task or '<task>'} '{accept}'`",
    )


_NOTE = re.compile(r"^dstream: replication slot (\S+) starts at ([0-9A-F]+/[0-9A-F]+)\b")


def _noted_start(comment: Optional[str], slot: str) -> Optional[int]:
    found = _NOTE.match(comment or "")
    return parse_lsn(found.group(2)) if found and found.group(1) == slot else None


def record_slot_start(conn: PgConnection, publication: str, slot: str, lsn: str) -> None:
    """Note where init made the slot, on the task's publication (PostgreSQL keeps no
    creation point of a slot): a run resuming from a checkpoint before it would otherwise
    skip what was committed while the slot was gone (require_usable_slot)."""
    note = f"dstream: replication slot {slot} starts at {lsn} (made by dstream init)"
    with server_errors(f"comment on publication {publication}", {}, RERUN):
        with conn.cursor() as cur:
            cur.execute(f"COMMENT ON PUBLICATION {quote_ident(publication)} IS %s", (note,))
        conn.commit()


# -- what init has to do, and what would stop it -------------------------------------------
@dataclass
class Work:
    create_publication: bool = False
    add: list[Table] = field(default_factory=list)
    remove: list[tuple[str, str]] = field(default_factory=list)  # (schema, table)
    create_slot: bool = False

    @property
    def publication_change(self) -> str:
        """What changes in an existing publication, as plan and init say it."""
        parts = []
        if self.add:
            parts.append("add " + ", ".join(t.qualified for t in self.add))
        if self.remove:
            parts.append("remove " + ", ".join(f"{s}.{t}" for s, t in sorted(self.remove)))
        return "; ".join(parts)


def work(state: Inspection, tables: list[Table]) -> Work:
    """What init must do so that the publication publishes exactly `tables` and the slot
    exists. A publication FOR ALL TABLES (made by hand) is left as it is."""
    if not state.publication_exists:
        return Work(create_publication=True, add=list(tables), create_slot=state.slot is None)
    wanted = {(t.schema, t.name) for t in tables}
    remove = [] if state.publishes_all_tables else sorted(state.listed - wanted)
    return Work(add=unpublished(state, tables), remove=remove, create_slot=state.slot is None)


def refuse_blocked(state: Inspection, tables: list[Table], todo: Work, task: Optional[str]) -> None:
    """Everything that would make init fail part-way, checked before it changes anything;
    plan checks the same, so that it shows as an error what init would refuse."""
    require_logical_wal(state)
    conflict = slot_conflict(state, task)
    if conflict is not None:
        raise conflict
    unsafe = [t for t in tables if not t.publishes_updates_safely]
    if unsafe:
        raise DstreamError(
            f"no replica identity on {', '.join(t.qualified for t in unsafe)}: once "
            "published, UPDATE and DELETE on it would fail in your application",
            hint="add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL",
        )
    _refuse_missing_privileges(state, todo)


def _refuse_missing_privileges(state: Inspection, todo: Work) -> None:
    role, db = quote_ident(state.role), quote_ident(state.database)
    as_other = "or run init as a superuser"
    if todo.create_publication and not state.can_create_publication:
        raise DstreamError(
            f"role {state.role} may not create publications in database {state.database} "
            "(CREATE PUBLICATION needs the CREATE privilege on the database)",
            hint=f"GRANT CREATE ON DATABASE {db} TO {role}, {as_other}",
        )
    foreign = [t for t in todo.add if not t.owned]
    if foreign:
        raise DstreamError(
            f"role {state.role} does not own {', '.join(t.qualified for t in foreign)} "
            "(only a table's owner may add it to a publication)",
            hint=f"ALTER TABLE ... OWNER TO {role}, {as_other}",
        )
    changes_publication = todo.add or todo.remove
    if not todo.create_publication and changes_publication and not state.publication_owned:
        raise DstreamError(
            f"publication {state.publication} belongs to role "
            f"{state.publication_owner}, so role {state.role} may not change it",
            hint=f"run init as {state.publication_owner}, {as_other}",
        )
    if todo.create_slot and not state.can_replicate:
        raise DstreamError(
            f"role {state.role} has no REPLICATION attribute, which a replication slot "
            "needs (to create it and to stream from it)",
            hint=f"ALTER ROLE {role} REPLICATION (as a superuser), or use a role that has it",
        )


# -- the DDL of init and destroy ------------------------------------------------------------
_PUBLICATION_HINTS = {
    INSUFFICIENT_PRIVILEGE: "the role needs the CREATE privilege on the database and must "
    "own each table (or be superuser)",
}


def apply_publication(
    conn: PgConnection, publication: str, tables: list[Table], todo: Work
) -> None:
    """Create the publication, or add and remove tables, in one transaction."""
    name = quote_ident(publication)
    with server_errors(f"change publication {publication}", _PUBLICATION_HINTS, RERUN):
        with conn.cursor() as cur:
            if todo.create_publication:
                names = ", ".join(t.sql_name for t in tables)
                cur.execute(f"CREATE PUBLICATION {name} FOR TABLE {names}")
            if todo.add and not todo.create_publication:
                added = ", ".join(t.sql_name for t in todo.add)
                cur.execute(f"ALTER PUBLICATION {name} ADD TABLE {added}")
            if todo.remove:
                removed = ", ".join(f"{quote_ident(s)}.{quote_ident(t)}" for s, t in todo.remove)
                cur.execute(f"ALTER PUBLICATION {name} DROP TABLE {removed}")
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
