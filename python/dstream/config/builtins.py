"""Every function a dstream.hcl may call, by name: one table, joined from the modules
that define them (config/functions.py and its siblings, by kind)."""

from __future__ import annotations

from dstream.config.functions import CORE, Builtin
from dstream.config.functions_collections import COLLECTIONS
from dstream.config.functions_encoding import ENCODING
from dstream.config.functions_numbers import NUMBERS
from dstream.config.functions_text import TEXT

FUNCTIONS: dict[str, Builtin] = {**CORE, **TEXT, **COLLECTIONS, **NUMBERS, **ENCODING}

# Functions whose arguments are evaluated by the call itself, one by one (the evaluator's
# _catching_call): how each is called.
CATCHING: dict[str, str] = {
    "can": "can(expression)",
    "try": "try(expression, fallback, ...)",
}


def usage_hint(name: str) -> str:
    """The hint of an error in a call of `name`, which says none of its own."""
    usage = CATCHING[name] if name in CATCHING else FUNCTIONS[name].usage
    return f"call it as {usage}; docs/configuration.md describes every function"
