"""Every function a dstream.hcl may call, by name: one table, joined from the modules
that define them (config/functions.py and its siblings, by kind)."""

from __future__ import annotations

from dstream.config.functions import CORE, Builtin

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_every: Optional[dict[str, Builtin]] = None


def every_function() -> dict[str, Builtin]:
    """The whole table. Its modules beyond CORE are imported here, on the first call of a
    function CORE has not: a configuration that calls none (most) does not load them
    (~4 M instructions of every start; issue 22)."""
    global _every
    if _every is None:
        from dstream.config.functions_collections import COLLECTIONS
        from dstream.config.functions_encoding import ENCODING
        from dstream.config.functions_numbers import NUMBERS
        from dstream.config.functions_text import TEXT

        _every = {**CORE, **TEXT, **COLLECTIONS, **NUMBERS, **ENCODING}
    return _every


def function_named(name: str) -> Optional[Builtin]:
    """The function called `name`, None when there is none."""
    found = CORE.get(name)
    return found if found is not None else every_function().get(name)


# Functions whose arguments are evaluated by the call itself, one by one (the evaluator's
# _catching_call): how each is called.
CATCHING: dict[str, str] = {
    "can": "can(expression)",
    "try": "try(expression, fallback, ...)",
}


def usage_hint(name: str) -> str:
    """The hint of an error in a call of `name`, which says none of its own."""
    usage = CATCHING[name] if name in CATCHING else every_function()[name].usage
    return f"call it as {usage}; docs/configuration.md describes every function"
