"""The pipeline the queue tests run: dstream-counter into a queue output, one table list
for both."""

from __future__ import annotations

import orjson

from tests.workspace import Workspace


def counter_into(
    ws: Workspace,
    task: str,
    output: str,
    output_config: str,
    *,
    count: int,
    tables: list[str],
    checkpoint_every: int,
    interval: int = 0,
) -> None:
    """Configure task `task`: dstream-counter (`count` envelopes over `tables`) into the
    provider `output` with `tables` and the HCL lines `output_config`."""
    tables_hcl = orjson.dumps(tables).decode()
    ws.config(
        f"""
        state {{ path = "state" }}
        task "{task}" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              interval = {interval}
              max_count = {count}
              checkpoint_every = {checkpoint_every}
              tables = {tables_hcl}
            }}
          }}
          output {{
            provider_path = "{output}"
            config {{
              tables = {tables_hcl}
              {output_config}
            }}
          }}
        }}
        """
    )
