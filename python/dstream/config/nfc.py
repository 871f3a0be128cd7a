"""Strings in Unicode's composed form (NFC), as Terraform's values are: cty makes every
string NFC, so `"e\\u0301"`, the same two characters written in the file, and `"é"` are
one value. Composed here: the text the configuration's files spell (a string's or
heredoc's literal parts, an object's bare key), the results of functions, variables'
values however given (`--var`, a var file, DSTREAM_VAR_*: Terraform composes TF_VAR_*
too). Not composed: what `env()` and a `{{ env }}` template read, which
reaches a provider byte for byte whatever the way it is read (a password or a path
changed by normalisation would no longer be the password or the path:
tests/config/test_properties.py), and so no string is composed across an interpolation
(`"${x}\\u0301"` keeps x's last letter apart from the accent, where Terraform joins
them). Names (attributes, locals, variables) are not values and stay as written."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.protocol.values import JsonValue


# Functions whose result is a value from outside the files, as given (never composed).
AS_GIVEN = frozenset({"env"})


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
