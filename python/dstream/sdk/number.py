"""`JsonNumber`: a JSON number that no float holds exactly, as an output's `write()` gets
it (docs/providers.md, "Numbers"). Its own module, imported only once such a number
arrives: `decimal` costs a provider's start ~5 ms."""

from __future__ import annotations

import re
from decimal import Decimal

# RFC 8259's number: what may be written back verbatim into a JSON text.
_GRAMMAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


class JsonNumber(Decimal):
    """A `decimal.Decimal` with the number's exact value (compare it, compute with it)
    whose `str()` is the number's text as it was received (`"1e400"`,
    `"0.1000000000000000000000000001"`); the SDK's encoders (`dump_json`, what `read()`
    yields) write that text back as a JSON number. ValueError for text that is not a
    JSON number."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonNumber:
        if not isinstance(text, str) or _GRAMMAR.fullmatch(text) is None:
            raise ValueError(f"{text!r} is not a JSON number")
        number = super().__new__(cls, text)
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JsonNumber({self.text!r})"

    def __reduce__(self) -> tuple[type[JsonNumber], tuple[str]]:
        return (JsonNumber, (self.text,))  # Decimal's would spell it its own way (1E+400)

    def __copy__(self) -> JsonNumber:
        return self

    def __deepcopy__(self, memo: object) -> JsonNumber:
        return self


__all__ = ["JsonNumber"]
