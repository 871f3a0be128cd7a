"""The refusal of an agent whose configuration differs names the live agents in one
order whatever the table's: the agent says its refusal once per reason (it compares
the text), and a renewal moving a row reordered the names, so it said it again (CI saw
it twice in tests/scale/test_agent_rollout.py)."""

from __future__ import annotations

import pytest

from dstream.config.model import StateSpec
from dstream.state import open_store
from dstream.state.agents import AgentRefused
from dstream.state.postgres import PostgresStore


def test_the_refusal_lists_the_live_agents_by_name(pg_spec: StateSpec) -> None:
    with open_store(pg_spec, ".") as store:
        assert isinstance(store, PostgresStore)
        registry = store.agents()
        store.transact("create", registry.create)
        for agent in ("b-agent", "a-agent"):  # b first in the table's own order
            store.transact("join", lambda c, agent=agent: registry.join(c, agent, "old", 30))
        with pytest.raises(AgentRefused) as refused:
            store.transact("join", lambda c: registry.join(c, "c-agent", "new", 30))
    reason = refused.value.reason
    assert reason.index("a-agent (old)") < reason.index("b-agent (old)"), reason
