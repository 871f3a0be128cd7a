"""Which values of a configuration are sensitive: Terraform's rule, by value.

A value is sensitive when it is the value of a `sensitive = true` variable or of an
environment variable the redactor names a credential (env("DB_PASSWORD"), `{{ env
"API_TOKEN" }}`: config/redact.py's `is_secret_variable`), or when the evaluator
computed it from a sensitive value: a string template or heredoc that interpolates
one, a function call with one among its arguments (upper, replace, split, format,
jsonencode, jsondecode, ...), arithmetic or a negation of one. Selecting does not
spread the mark: `local.db.host` of an object that also holds a password, or the
branch a conditional picks, is sensitive only if that value itself is.

An object's key names are no secret (its type's words: "user", "password"), also where
a function turns them into values (keys()).

The marks are kept as the set of sensitive leaf values (strings, and numbers as their
text); the redactor (config/redact.py) masks each one of at least MIN_SECRET_LENGTH
characters wherever it appears. Tracking costs nothing while no variable is sensitive
and the environment holds no credential.
"""

from __future__ import annotations

from collections.abc import Iterable

from dstream.config.redact import is_secret_variable, key_names, leaves

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


class Taint:
    """The sensitive values of one configuration, grown as expressions are evaluated."""

    def __init__(self) -> None:
        self.marked: set[str] = set()
        # Whether expressions are tracked: something is marked, or may be while they
        # are under way (env() of a credential in the middle of a call of upper()).
        self.tracking = False
        self._watched = False
        self._operand = False  # a sensitive operand was seen in the current expression
        self._key_names: set[str] = set()  # of the objects marked: no secret (_mark_computed)

    def mark(self, value: object) -> None:
        self.marked.update(leaves(value))
        self._key_names.update(key_names(value))
        self.tracking = self.tracking or bool(self.marked)

    def _mark_computed(self, value: object) -> None:
        """A value computed from a sensitive one: sensitive, but for the key names of a
        sensitive object it holds as text (keys(var.creds) is ["password", "user"]):
        they are its type's words, not its secret, and marked they would be masked in
        every output (docs/security.md: the marks are on values)."""
        self.mark([text for text in leaves(value) if text not in self._key_names])

    def watch(self, environ: dict[str, str]) -> None:
        """Track from the first expression on if `environ` holds a credential an
        expression may read (once: a configuration has one environment)."""
        if self._watched:
            return
        self._watched = True
        # Not a read of the environment (a RecordingEnviron would note a scan of every
        # name): only whether to track. What is read is noted, and marked, by env().
        if any(is_secret_variable(name, value) for name, value in dict.items(environ)):
            self.tracking = True

    def read_secret(self, value: str) -> None:
        """A credential read from the environment: sensitive, and so is what the
        expression reading it computes."""
        self.mark(value)
        self._operand = True

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
                self._mark_computed(value)
                sensitive = True
            else:
                sensitive = self.holds(value)
            return value
        finally:
            self._operand = outer or sensitive

    def values(self, min_length: int) -> Iterable[str]:
        return (text for text in self.marked if len(text) >= min_length)
