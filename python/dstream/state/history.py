"""What the postgres state keeps about a task besides its checkpoint, in tables beside
the state table (created with it, as the lease table is):

    <table>_runs   task | id | run (json)         the last RUN_HISTORY runs (`dstream runs`)
    <table>_input  task | input_hash | updated_at  the input configuration of the checkpoint

The store writes the input's hash inside its fenced transaction (state/postgres.py), so
a run that lost its lease does not change it; a run is appended to the history unfenced,
in a transaction of its own. Every method takes a connection in autocommit mode or
inside the caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from dstream.protocol.values import encode_json
from dstream.state.base import RUN_HISTORY, run_entry
from dstream.state.tables import SqlTable

if TYPE_CHECKING:
    from dstream.state.lease import Conn


class RunTable(SqlTable):
    COLUMNS = (
        "task text NOT NULL, id bigint GENERATED ALWAYS AS IDENTITY, run json NOT NULL,"
        " PRIMARY KEY (task, id)"
    )

    def add(self, conn: Conn, task: str, run: dict[str, object]) -> None:
        """Append `run`, then drop what falls beyond the newest RUN_HISTORY of the task."""
        conn.execute(
            self._sql("INSERT INTO {t} (task, run) VALUES (%s, %s::json)"),
            (task, encode_json(run).decode()),
        )
        conn.execute(
            self._sql(
                "DELETE FROM {t} WHERE task = %s AND id <= ("
                " SELECT id FROM {t} WHERE task = %s ORDER BY id DESC OFFSET %s LIMIT 1)"
            ),
            (task, task, RUN_HISTORY),
        )

    def runs(self, conn: Conn, task: str) -> list[dict[str, object]]:
        """The task's runs, oldest first; a row edited into one no reader can show is
        left out, and said so."""
        rows = conn.execute(
            self._sql("SELECT id, run::text FROM {t} WHERE task = %s ORDER BY id DESC LIMIT %s"),
            (task, RUN_HISTORY),
        ).fetchall()
        out: list[dict[str, object]] = []
        for row_id, text in reversed(rows):
            # The json column holds JSON, but maybe nested deeper than a reader goes.
            run = run_entry(text, task, f"table {self.name}_runs, id {row_id}")
            if run is not None:
                out.append(run)
        return out


class InputHashTable(SqlTable):
    COLUMNS = (
        "task text PRIMARY KEY, input_hash text NOT NULL,"
        " updated_at timestamptz NOT NULL DEFAULT clock_timestamp()"
    )

    def get(self, conn: Conn, task: str) -> Optional[str]:
        row = conn.execute(
            self._sql("SELECT input_hash FROM {t} WHERE task = %s"), (task,)
        ).fetchone()
        return str(row[0]) if row else None

    def set(self, conn: Conn, task: str, digest: str) -> None:
        conn.execute(
            self._sql(
                "INSERT INTO {t} (task, input_hash) VALUES (%s, %s)"
                " ON CONFLICT (task) DO UPDATE SET input_hash = EXCLUDED.input_hash,"
                " updated_at = clock_timestamp()"
            ),
            (task, digest),
        )
