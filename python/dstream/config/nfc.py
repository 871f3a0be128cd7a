"""Strings in Unicode's composed form (NFC), as Terraform's values are: cty makes every
string NFC, so `"e\\u0301"`, the same two characters written in the file, and `"é"` are
one value, whether a literal, a template, a function or a variable made it. Names
(attributes, locals, variables) are not values and stay as written."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue


def nfc_text(text: str) -> str:
    # ASCII, nearly every string, is composed already: no copy, and no import of
    # Unicode's tables (a 1 MB extension module) on a start that needs none (issue 22).
    if text.isascii():
        return text
    import unicodedata

    return unicodedata.normalize("NFC", text)


def nfc(value: JsonValue) -> JsonValue:
    """`value` with every string in it (a list's items, an object's keys and values)
    composed; the same object when nothing changes."""
    if isinstance(value, str):
        return nfc_text(value)
    if isinstance(value, list):
        items = [nfc(item) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    if isinstance(value, dict):
        pairs = [(nfc_text(key), nfc(item)) for key, item in value.items()]
        same = all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items()))
        return value if same else dict(pairs)
    return value
