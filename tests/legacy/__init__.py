# ruff: noqa: E501  (the original example configuration, lines as its users wrote them)
"""The legacy zoo: programs that behave like the original DStream's providers (no
dstream import), run through the real CLI with the original's example configurations."""

from __future__ import annotations

from pathlib import Path

ZOO = Path(__file__).parent / "zoo"


def zoo(name: str) -> str:
    """The absolute path of a zoo program, for provider_path."""
    return str(ZOO / f"{name}.py")


# ORIGINAL.md section 2, the repo's dstream.hcl: provider_ref replaced by the zoo's
# programs (no ghcr.io here), every other line as the original users wrote it.
MSSQL_TO_ASB = f"""
task "mssql-to-asb" {{
  type = "providers"
  input {{
    provider_path = "{zoo("mssql_ingester")}"
    config {{
      db_connection_string = "server=localhost,1433;user id=sa;password=Secret1;database=TestDB;encrypt=disable"
      poll_interval = "5s"
      max_poll_interval = "30s"
      tables = ["Persons", "Cars"]
      lock_config = {{ type = "none" }}
    }}
  }}
  output {{
    provider_path = "{zoo("asb_output")}"
    config {{
      connectionString = "{{{{ env `ASB_CONNECTION_STRING` }}}}"
      resourceGroup = "rg-dstream-dev"
      namespace = "sb-dstream-dev"
      sourceHost = "localhost"
      sourceDatabase = "TestDB"
      tables = ["dbo.Cars", "dbo.Persons"]
    }}
  }}
}}
"""

OCI_COUNTER_DEMO = f"""
task "oci-counter-demo" {{
  type = "providers"
  input {{
    provider_path = "{zoo("counter_input")}"
    config {{
      interval = 1000
      maxCount = 5
    }}
  }}
  output {{
    provider_path = "{zoo("console_output")}"
    config {{
      outputFormat = "simple"
    }}
  }}
}}
"""
