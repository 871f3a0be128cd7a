"""The conformance kit's tests: the provider with switchable flaws they test it on, and
the check statuses of a report. The CLI runner (tests/workspace.py) and the registry
fixture (tests/conftest.py) are the shared ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

RAW_PROVIDER = Path(__file__).with_name("raw_provider.py")


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}
