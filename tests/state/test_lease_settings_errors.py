"""Lease settings that cannot work are refused at the attribute written, saying which
value is the default: a review found `lease_ttl = "0s"` reported at the state block's
first line, naming a renew interval of 3s the user never wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workspace import dstream

CONFIG = """task "t" {
  input  { provider_path = "dstream-counter" }
  output { provider_path = "dstream-null" }
}
state {
  backend = "postgres"
  dsn     = "postgresql://u@127.0.0.1:1/db"
  SETTINGS
}
"""


@pytest.mark.parametrize(
    ("settings", "where", "said"),
    [
        ('lease_ttl = "0s"', "8:15", "lease_ttl 0s is shorter than 1s"),
        (
            'lease_ttl = "2s"',
            "8:15",
            "lease_renew_interval 3s (the default) is too long for lease_ttl 2s",
        ),
        ('lease_renew_interval = "0s"', "8:26", "lease_renew_interval 0s is not above 0"),
        (
            'lease_renew_interval = "9s"',
            "8:26",
            "lease_renew_interval 9s is too long for lease_ttl 15s (the default)",
        ),
        (
            'lease_ttl = "6s"\n  lease_renew_interval = "3s"',
            "9:26",
            "lease_renew_interval 3s is too long for lease_ttl 6s:",
        ),
    ],
)
def test_bad_lease_settings_are_refused_where_written(
    tmp_path: Path, settings: str, where: str, said: str
) -> None:
    (tmp_path / "dstream.hcl").write_text(CONFIG.replace("SETTINGS", settings))
    for args in (("state", "list"), ("run", "t")):
        done = dstream(*args, cwd=tmp_path, without="DSTREAM_")
        assert done.returncode == 2, (args, done.stderr)
        assert f"dstream.hcl:{where}: {said}" in done.stderr, (args, done.stderr)
        assert "hint: " in done.stderr and "Traceback" not in done.stderr
