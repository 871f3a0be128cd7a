"""The encodings a secret is masked in (config/redact.py's Redactor matches them): JSON
string escaping as Python, .NET and Go write it, Python-repr escaping, URL encoding, hex,
and base64 (standard and URL-safe, padded or not, inside a longer base64 text at any
alignment).

Imported by the Redactor only once a process has secrets, and its regular expressions
compiled only then (issue 22: tests/cli/test_import_budget.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dstream.config.connstr import MIN_SECRET_LENGTH
from dstream.records import record

# JSON string escaping as other languages' serialisers write it, each style applied
# whole: .NET's System.Text.Json (default encoder: HTML-sensitive characters, "+", and
# all non-ASCII as \uXXXX, upper-case hex), Go's encoding/json (< > & and U+2028/9 as
# \u003c, lower-case hex). Python's own are json.dumps's two.
_DOTNET_ESCAPED = frozenset("\"+'<>&`")
_GO_ESCAPED = frozenset("<>&\u2028\u2029")
_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_style(secret: str, escaped: frozenset[str], *, non_ascii: bool, hex_format: str) -> str:
    """`secret` JSON-escaped in one serialiser's style: `escaped` characters, control
    characters (but for the short escapes) and, if `non_ascii`, the rest beyond ASCII
    (as UTF-16 units) in \\u form."""
    out = []
    for ch in secret:
        code = ord(ch)
        control = code < 0x20 and ch not in _SHORT_ESCAPES
        if ch in escaped or control or (non_ascii and code > 0x7F):
            units = ch.encode("utf-16-be", "surrogatepass")
            out += [
                "\\u" + format(int.from_bytes(units[i : i + 2], "big"), hex_format)
                for i in range(0, len(units), 2)
            ]
        elif ch == '"':
            out.append('\\"')
        else:
            out.append(_SHORT_ESCAPES.get(ch, ch))
    return "".join(out)


def encodings(secret: str) -> set[str]:
    """The texts a secret is masked as: as written, escaped (JSON as Python, .NET, Go and
    PHP write it, a Python repr, YAML's and the shell's single quotes, HTML), URL-encoded
    (upper- and lower-case hex) and decoded, and hex-encoded (its base64 is matched by
    `_base64_forms`)."""
    import urllib.parse  # here: only a process that has secrets pays for these imports

    raw = utf8(secret)
    forms = {
        secret,
        *_json_forms(secret),
        *_quoted_forms(secret),
        *_html_forms(secret),
        _json_style(secret, _DOTNET_ESCAPED, non_ascii=True, hex_format="04X"),
        _json_style(secret, _GO_ESCAPED, non_ascii=False, hex_format="04x"),
        # and HTML-safe with ASCII only: Python's json.dumps made HTML-safe, as some write
        _json_style(secret, _GO_ESCAPED, non_ascii=True, hex_format="04x"),
        repr(secret)[1:-1],
        raw.hex(),
        raw.hex().upper(),
    }
    for quoted in (
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    ):  # as written, and with lower-case hex ("%2f"), as some encoders write it
        forms |= {quoted, re.sub(_PERCENT_ESCAPE, lambda m: m.group().lower(), quoted)}
    if re.search(_PERCENT_ESCAPE, secret):  # written encoded (a URL's password): decoded
        forms.add(urllib.parse.unquote(secret))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


_PERCENT_ESCAPE = r"%[0-9A-Fa-f]{2}"


def _json_forms(secret: str) -> set[str]:
    """Python's json.dumps's two escapings, and each with "/" as "\\/" (PHP's
    json_encode; base64 and SAS secrets hold "/")."""
    import json

    forms = {json.dumps(secret, ensure_ascii=False)[1:-1], json.dumps(secret)[1:-1]}
    return forms | {form.replace("/", "\\/") for form in forms}


def _quoted_forms(secret: str) -> set[str]:
    """In single quotes: YAML doubles a quote, the shell closes, escapes and reopens."""
    return {secret.replace("'", "''"), secret.replace("'", "'\\''")}


def _html_forms(secret: str) -> set[str]:
    """HTML-escaped: Python's html.escape (with and without quotes), and every character
    but letters and digits as a decimal or hexadecimal entity (&#43;, &#x2B;), as
    encoders written against cross-site scripting do."""
    import html

    return {
        html.escape(secret),
        html.escape(secret, quote=False),
        "".join(ch if ch.isalnum() else f"&#{ord(ch)};" for ch in secret),
        "".join(ch if ch.isalnum() else f"&#x{ord(ch):X};" for ch in secret),
    }


def utf8(secret: str) -> bytes:
    return secret.encode("utf-8", "surrogatepass")


def plain_base64(secret: str) -> set[str]:
    """A secret's base64 alone (the forms `_base64_forms` finds inside longer texts,
    whole), for `Redactor.edges`: standard and URL-safe, unpadded."""
    import base64

    raw = utf8(secret)
    return {
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


def longest(text: str, forms: Iterable[str], *, at_end: bool) -> int:
    """The length of the longest end of `text` that starts one of `forms` (`at_end`), or
    of its longest start that ends one; 0 when none of MIN_SECRET_LENGTH or more does.
    A whole form is no fragment: `Redactor.text` has masked it already. Only the sizes
    at which the form has `text`'s edge character are compared (a PEM's forms are long:
    comparing every size cost milliseconds a line)."""
    if not text:
        return 0
    best = 0
    edge = text[-1] if at_end else text[0]
    for form in forms:
        top, floor = min(len(form) - 1, len(text)), max(best, MIN_SECRET_LENGTH - 1)
        if at_end:  # form[:size] ends with `edge`: form[size - 1] is one
            at = form.rfind(edge, 0, top)
            while at + 1 > floor and not text.endswith(form[: at + 1]):
                at = form.rfind(edge, 0, at)
            size = at + 1
        else:  # form[-size:] starts with `edge`: form[len(form) - size] is one
            at = form.find(edge, len(form) - top)
            while at != -1 and len(form) - at > floor and not text.startswith(form[at:]):
                at = form.find(edge, at + 1)
            size = len(form) - at if at != -1 else 0
        if size > floor:
            best = size
    return best


# Base64's alphabets: standard, and URL-safe (its last two characters differ).
_BASE64_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_URLSAFE = _BASE64_STANDARD[:-2] + "-_"
_BASE64_TEXT = frozenset(_BASE64_STANDARD + _BASE64_URLSAFE)
_REST_OF_GROUP = "".join(sorted(_BASE64_TEXT)) + "="  # a group ends in padding, or not
_GROUP = 4  # base64 characters per 3 bytes
_BITS = 6  # the bits each base64 character holds
# The characters searched for first (then the whole form around them): a secret of
# MIN_SECRET_LENGTH bytes has at least 3 characters of its own bits only.
_KEY = 3


@record(frozen=True)  # no NamedTuple: importing typing costs every start (issue 22)
class _Base64Form:
    """A secret's base64 at one alignment, in one alphabet."""

    key: str  # its first _KEY characters made of the secret's bits only
    head: int  # the characters before the key holding some of the secret's bits
    pattern: re.Pattern[str]  # from the head on, and the rest of the last group
    lead: int  # the characters of the first group before the head


class Base64Finder:
    """Finds secrets base64-encoded, alone or inside a longer base64 text (an HTTP Basic
    header's "user:password"), standard or URL-safe, padded or not. A scan for the
    forms' keys (literal, so the scan is as fast as that of the other encodings), then
    each form with that key is matched where one is found."""

    def __init__(self, secrets: Iterable[bytes]) -> None:
        self._forms: dict[str, list[_Base64Form]] = {}
        for raw in secrets:
            for form in _base64_forms(raw):
                self._forms.setdefault(form.key, []).append(form)
        keys = "|".join(re.escape(key) for key in sorted(self._forms))
        self._keys = re.compile(keys) if keys else None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where the secrets' base64 forms are in `text`, with the rest of their groups
        at either end: those decode to a secret's first and last bytes mixed with their
        neighbours'."""
        found: list[tuple[int, int]] = []
        at = 0
        while self._keys and (key := self._keys.search(text, at)):
            for form in self._forms[key.group()]:
                start = key.start() - form.head
                match = form.pattern.match(text, start) if start >= 0 else None
                if match:
                    found.append((_group_start(text, start, form.lead), match.end()))
            at = key.start() + 1  # keys overlap: a form's key may start inside another's
        return found


def _group_start(text: str, start: int, lead: int) -> int:
    """`start` moved back by `lead` characters, as far as the text is base64 there."""
    while lead and start and text[start - 1] in _BASE64_TEXT:
        start, lead = start - 1, lead - 1
    return start


def _base64_forms(raw: bytes) -> set[_Base64Form]:
    """The forms of `raw` in base64, for each of the three alignments of `raw` on the
    groups of 4 characters that 3 bytes become, and each alphabet.

    A form matches every character that holds a bit of `raw`, and only `raw`'s bits of
    it: a character at either end shares bits with a neighbouring byte, and is matched
    as the class of characters with `raw`'s bits. So a form matches exactly where the
    encoded bytes are `raw`: as many bits as `raw` as written, whatever its length and
    alignment (the groups of `raw`'s bytes alone would be none for a short secret in a
    Basic header, and 1-2 bytes of it would match noise)."""
    forms: set[_Base64Form] = set()
    for alphabet in (_BASE64_STANDARD, _BASE64_URLSAFE):
        for before in (0, 1, 2):
            bits = range(8 * before, 8 * (before + len(raw)))  # raw's bits in the encoding
            first, last = bits.start // _BITS, (bits.stop - 1) // _BITS  # their characters
            characters = [
                _base64_characters(raw, bits, index, alphabet) for index in range(first, last + 1)
            ]
            head = 0 if bits.start % _BITS == 0 else 1  # the first shares bits, or not
            trail = _GROUP - 1 - last % _GROUP  # the characters of the last group after
            pattern = "".join(map(_one_of, characters))
            if trail:
                pattern += f"{_one_of(_REST_OF_GROUP)}{{0,{trail}}}"
            key = characters[head : head + _KEY]  # 3 bytes or more: 3 of raw's bits only
            forms.add(_Base64Form("".join(key), head, re.compile(pattern), first % _GROUP))
    return forms


def _base64_characters(raw: bytes, bits: range, index: int, alphabet: str) -> str:
    """The characters the base64 character at `index` can be when the encoded bytes hold
    `raw` at `bits`: its bits that are raw's fixed, the others free."""
    mask = value = 0
    for offset in range(_BITS):
        bit = index * _BITS + offset
        if bit in bits:
            position = bit - bits.start
            mask |= 0x20 >> offset
            value |= ((raw[position // 8] >> (7 - position % 8)) & 1) << (5 - offset)
    return "".join(alphabet[v] for v in range(1 << _BITS) if v & mask == value)


def _one_of(characters: str) -> str:
    """A regular expression matching any one of `characters`."""
    if len(characters) == 1:
        return re.escape(characters)
    return "[" + "".join(re.escape(c) for c in characters) + "]"
