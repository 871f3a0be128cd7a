"""Which values of a configuration are sensitive: Terraform's rule, by value.

A value is sensitive when it is the value of a `sensitive = true` variable, or when the
evaluator computed it from a sensitive value: a string template or heredoc that
interpolates one, a function call with one among its arguments (upper, replace, split,
format, jsonencode, jsondecode, ...), arithmetic or a negation of one. Selecting does
not spread the mark: `local.db.host` of an object that also holds a password, or the
branch a conditional picks, is sensitive only if that value itself is.

The marks are kept as the set of sensitive leaf values (strings, and numbers as their
text); the redactor (config/redact.py) masks each one of at least MIN_SECRET_LENGTH
characters wherever it appears. Tracking costs nothing while no variable is sensitive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, TypeVar

    N = TypeVar("N")
    V = TypeVar("V")

# Expression kinds whose result is computed from their operands (and so is sensitive
# when an operand is); every other kind selects or assembles values, which keep their
# own marks.
COMPUTING = frozenset(
    {
        "function_call",
        "string",
        "heredoc_template",
        "heredoc_template_trim",
        "binary_op",
        "unary_op",
    }
)


def leaves(value: object) -> Iterator[str]:
    """The texts a value consists of: strings, numbers as text, and object keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


class Taint:
    """The sensitive values of one configuration, grown as expressions are evaluated."""

    def __init__(self) -> None:
        self.marked: set[str] = set()
        self._operand = False  # a sensitive operand was seen in the current expression

    def mark(self, value: object) -> None:
        self.marked.update(leaves(value))

    def holds(self, value: object) -> bool:
        return any(text in self.marked for text in leaves(value))

    def track(self, kind: str, evaluate: Callable[[N], V], node: N) -> V:
        """`evaluate(node)`, an expression of `kind`, marking its result when it is
        derived from a sensitive value."""
        outer, self._operand = self._operand, False
        sensitive = False
        try:
            value = evaluate(node)
            if kind in COMPUTING and self._operand:
                self.mark(value)
                sensitive = True
            else:
                sensitive = self.holds(value)
            return value
        finally:
            self._operand = outer or sensitive

    def values(self, min_length: int) -> Iterable[str]:
        return (text for text in self.marked if len(text) >= min_length)
