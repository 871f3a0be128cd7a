"""The tables of the postgres state: each one's name, SQL with `{t}` standing for it,
and its creation.

Only a missing table is created: `CREATE TABLE IF NOT EXISTS` checks the schema's
CREATE privilege even when the table exists, and a least-privilege user (DML grants, or
SELECT alone; PostgreSQL 15 gives ordinary users no CREATE on `public`) has none. A
table missing that the user cannot create is named, with the statement a database owner
runs to create it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from dstream.errors import DstreamError

if TYPE_CHECKING:
    from psycopg import sql

    from dstream.state.lease import Conn


class SqlTable:
    """One table of the postgres state: its identifier, the state table's name `name`
    (for messages), and `COLUMNS`, what `create` makes it with."""

    COLUMNS = ""

    def __init__(self, table: sql.Identifier, name: str) -> None:
        self.table = table
        self.name = name

    def _sql(self, text: str) -> sql.Composed:
        from psycopg import sql

        return sql.SQL(text).format(t=self.table)

    def create(self, conn: Conn) -> None:
        """Create the table unless it exists (in the caller's transaction, if any)."""
        create_missing(conn, self.table, self.COLUMNS, schema_of(self.name))


def schema_of(name: str) -> Optional[str]:
    """The schema of a configured `schema.table`; None for a bare table name (the
    first schema of the search_path then)."""
    return name.rsplit(".", 1)[0] if "." in name else None


def create_missing(conn: Conn, table: sql.Identifier, columns: str, schema: Optional[str]) -> None:
    """`CREATE TABLE table (columns)` when no such table is found through the
    session's search_path, as the queries will look it up; `schema`: the one named with
    the table, if any (for the message when it cannot be created)."""
    from psycopg import errors, sql

    shown = table.as_string(conn)
    found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (shown,)).fetchone()
    if found and found[0]:
        return
    statement = sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(columns))
    # IF NOT EXISTS: a creator not under dstream's advisory lock may have made it since.
    racing = sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(table, sql.SQL(columns))
    try:
        with conn.transaction():  # a savepoint inside the caller's transaction
            conn.execute(racing)
    except errors.InsufficientPrivilege:
        raise _cannot_create(conn, shown, statement.as_string(conn), schema) from None


def _cannot_create(conn: Conn, shown: str, statement: str, schema: Optional[str]) -> DstreamError:
    from psycopg import sql

    row = conn.execute(
        "SELECT current_user, coalesce(%s, current_schema(), 'public')", (schema,)
    ).fetchone()
    user, where = (str(row[0]), str(row[1])) if row else ("the user", "public")
    quoted_user = sql.Identifier(user).as_string(conn)
    quoted_schema = sql.Identifier(where).as_string(conn)
    return DstreamError(
        f"the state table {shown} does not exist, and user {user} may not create it: "
        f"no CREATE privilege on schema {where}",
        hint=f"have the schema's owner create it ({statement}), or grant the user "
        f"CREATE (GRANT CREATE ON SCHEMA {quoted_schema} TO {quoted_user}); "
        "docs/delivery.md, The state store",
    )
