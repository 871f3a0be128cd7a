"""`masked_assignment`: the one way a --var or --env given on the command line is shown
before the configuration says which values are secret (a usage error, a crash report,
`provider test`)."""

from __future__ import annotations

import pytest

from dstream.cli.crash import shown_command
from dstream.config.redact import masked_assignment


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("PGPASSWORD=hunter2", "PGPASSWORD=***"),
        ("region=", "region=***"),
        ("=hunter2", "=***"),
        ("hunter2", "***"),  # no name: the whole word may be the value
        ("a=b=hunter2", "a=***"),
    ],
)
def test_an_assignment_keeps_its_name_and_never_shows_its_value(given: str, shown: str) -> None:
    assert masked_assignment(given) == shown


def test_a_crash_report_masks_every_var_spelling_the_same_way() -> None:
    argv = ["run", "--var", "pw=hunter2", "--var==hunter2", "-var=hunter2", "t"]
    assert shown_command(argv) == "run --var pw=*** --var==*** -var=*** t"
