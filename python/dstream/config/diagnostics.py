"""Errors and warnings found while loading, collected so `dstream lint` can show all."""

from __future__ import annotations

from dstream.config.model import Location
from dstream.errors import ConfigError
from dstream.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, TypeVar, Union

    T = TypeVar("T")


@record
class Diagnostic:
    severity: str  # "error" | "warning"
    message: str
    location: Optional[Location] = None
    hint: Optional[str] = None
    # Set: an error of this task alone, which fails when it is used (an unset environment
    # variable's, see loader._build_task_lazily): a warning to the file's other tasks, an
    # error to lint.
    task: Optional[str] = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        return f"{where}{self.message}"

    def to_dict(self) -> dict[str, Union[str, int, None]]:
        out: dict[str, Union[str, int, None]] = {"severity": self.severity, "message": self.message}
        if self.location is not None:
            out["location"] = str(self.location)
            out["file"] = self.location.file
            out["line"] = self.location.line
            out["column"] = self.location.column
        if self.hint:
            out["hint"] = self.hint
        return out


@record
class Diagnostics:
    items: list[Diagnostic] = field(default_factory=list)
    # The first error as raised, so load_project can re-raise it unchanged.
    first_error: Optional[ConfigError] = None

    def error(self, exc: ConfigError) -> None:
        """Record `exc` once: a broken local is met again by everything that uses it."""
        location = exc.location if isinstance(exc.location, Location) else None
        recorded = self.add(Diagnostic("error", exc.reason, location, exc.hint))
        if recorded and self.first_error is None:
            self.first_error = exc

    def add(self, item: Diagnostic) -> bool:
        """Record `item` unless the same error is recorded already (a task's own
        diagnostics meet the file's again); whether it was recorded."""
        if item.severity == "error" and any(
            seen.severity == "error"
            and seen.message == item.message
            and seen.location == item.location
            for seen in self.items
        ):
            return False
        self.items.append(item)
        return True

    def attempt(self, action: Callable[[], T]) -> Optional[T]:
        """Run `action`; record a ConfigError instead of raising it (lint shows them all)."""
        try:
            return action()
        except ConfigError as exc:
            self.error(exc)
            return None

    def warn(
        self,
        message: str,
        location: Optional[Location],
        hint: Optional[str] = None,
        task: Optional[str] = None,
    ) -> None:
        self.items.append(Diagnostic("warning", message, location, hint, task))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity == "warning"]
