"""A metrics label holds data a provider wrote (metadata.TableName): a table name that
holds a secret is masked in /metrics as in the run summary (`table ***`); it was served
as written."""

from __future__ import annotations

import re
import signal

from tests.runtime.conftest import metrics_address, scrape
from tests.services import wait_until
from tests.workspace import Workspace

SECRET = "SEKRETPW4242"
CONFIG = """
variable "tok" {
  sensitive = true
}
task "t" {
  input {
    provider_path = "dstream-counter"
    config {
      interval = 20
      tables   = ["orders_${var.tok}", "plain"]
    }
  }
  output { provider_path = "dstream-null" }
}
"""


def table_labels(body: str) -> set[str]:
    return set(re.findall(r'^dstream_table_frames_total\{[^}]*table="([^"]*)"', body, re.M))


def test_a_table_label_holding_a_secret_is_masked(ws: Workspace) -> None:
    ws.config(CONFIG)
    proc = ws.popen("run", "t", "--metrics-addr", "127.0.0.1:0", env={"DSTREAM_VAR_tok": SECRET})
    try:
        addr = metrics_address(proc)

        def both_tables() -> str:  # the table map is published whole: both shown, all are
            _, body = scrape(addr)
            return body if len(table_labels(body)) >= 2 else ""

        body = wait_until("a scrape with both tables", both_tables, tick=0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    assert SECRET not in body, body
    assert table_labels(body) == {"***", "plain"}, body  # a value made of a secret is one
