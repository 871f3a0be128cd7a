"""The rows both sides of the peer benchmark move: one definition, so the bytes match."""

from __future__ import annotations

from typing import Any

UPDATED_AT = "2024-05-01T12:00:00+00:00"


def make_row(n: int) -> dict[str, Any]:
    return {
        "id": n,
        "name": f"customer-{n}",
        "amount": n * 1.25,
        "active": n % 3 != 0,
        "tags": ["a", "b"] if n % 2 else ["c"],
        "updated_at": UPDATED_AT,
    }
