"""The registry of `dstream agent` processes sharing a PostgreSQL state: one row per
live agent in `<state table>_agents`, with the hash of the configuration it runs and an
expiry renewed on the database clock (as leases are, state/lease.py).

Joining is one transaction under an advisory lock on the registry, so two agents with
different configurations that start at once cannot both get in: the second sees the
first and is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dstream.errors import DstreamError
from dstream.records import record
from dstream.state.tables import SqlTable

if TYPE_CHECKING:
    from dstream.state.lease import Conn


class AgentRefused(DstreamError):
    """Live agents run another configuration: this one must not divide tasks with them."""


@record(frozen=True)
class AgentRow:
    agent: str
    config_hash: str
    since: float  # seconds since the epoch (database clock)


class AgentTable(SqlTable):
    COLUMNS = (
        "agent text PRIMARY KEY, config_hash text NOT NULL,"
        " started_at timestamptz NOT NULL, expires_at timestamptz NOT NULL"
    )

    def create(self, conn: Conn) -> None:
        # Under the registry's lock: agents started together would race on the catalog
        # (CREATE TABLE IF NOT EXISTS is not safe against a concurrent one).
        with conn.transaction():
            self._lock(conn)
            super().create(conn)

    def _lock(self, conn: Conn) -> None:
        """The registry's transaction lock: one join (or creation) at a time."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", ("dstream_agents:" + self.name,))

    def join(self, conn: Conn, agent: str, config_hash: str, ttl: float) -> None:
        """Register `agent`, or raise AgentRefused naming the live agents whose
        configuration differs."""
        with conn.transaction():
            self._lock(conn)
            others = conn.execute(
                self._sql(
                    "SELECT agent, config_hash FROM {t}"
                    " WHERE expires_at > now() AND config_hash <> %s AND agent <> %s"
                    # One text for one set: the refused agent says it once (agent.py).
                    " ORDER BY agent"
                ),
                (config_hash, agent),
            ).fetchall()
            if others:
                names = ", ".join(f"{row[0]} ({row[1]})" for row in others)
                raise AgentRefused(
                    f"agent {agent} runs configuration {config_hash}, but live agents run "
                    f"another one: {names}",
                    hint="give every agent the same dstream.hcl (and variables); an agent "
                    "started with a changed one waits until the old agents are stopped or "
                    "replaced (docs/scaling.md, rolling a change out)",
                )
            conn.execute(
                self._sql(
                    "INSERT INTO {t} (agent, config_hash, started_at, expires_at)"
                    " VALUES (%s, %s, now(), now() + make_interval(secs => %s))"
                    # An expired row joined again is a new member: last in join order.
                    " ON CONFLICT (agent) DO UPDATE SET config_hash = EXCLUDED.config_hash,"
                    " started_at = EXCLUDED.started_at, expires_at = EXCLUDED.expires_at"
                ),
                (agent, config_hash, ttl),
            )

    def heartbeat(self, conn: Conn, agent: str, ttl: float) -> bool:
        """Renew a live registration; False when it expired (the others counted this
        agent out) or is gone: then the agent must join again, through the checks."""
        cur = conn.execute(
            self._sql(
                "UPDATE {t} SET expires_at = now() + make_interval(secs => %s)"
                " WHERE agent = %s AND expires_at > now()"
            ),
            (ttl, agent),
        )
        return bool(cur.rowcount == 1)

    def live(self, conn: Conn) -> list[AgentRow]:
        """The live agents in join order (the same for every reader: agent.py's quotas)."""
        rows = conn.execute(
            self._sql(
                "SELECT agent, config_hash, extract(epoch FROM started_at)::float8 FROM {t}"
                " WHERE expires_at > now() ORDER BY started_at, agent"
            )
        ).fetchall()
        return [AgentRow(r[0], r[1], float(r[2])) for r in rows]

    def registered(self, conn: Conn, agent: str) -> bool:
        """Whether `agent` (a lease owner) is an agent in the registry, which may not
        exist (no agent ever ran on this state)."""
        shown = self.table.as_string(conn)
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (shown,)).fetchone()
        if not (found and found[0]):
            return False
        row = conn.execute(self._sql("SELECT 1 FROM {t} WHERE agent = %s"), (agent,)).fetchone()
        return row is not None

    def leave(self, conn: Conn, agent: str) -> None:
        conn.execute(self._sql("DELETE FROM {t} WHERE agent = %s"), (agent,))
