"""Terraform's encoding and hash functions: base64encode(), base64decode(), urlencode(),
csvdecode(), md5(), sha1(), sha256(), sha512(), uuidv5(), with Terraform's results and
errors (each checked against `terraform console` in tests/config/test_functions_*.py).

Their modules (hashlib, base64, urllib) are imported by the call: a configuration that
calls none of them does not pay for them at every start. uuid() and timestamp() are not
here on purpose: a different value at every evaluation would change the configuration's
digest, and so the warm start, at every run."""

from __future__ import annotations

from dstream.config.functions import Builtin, CallContext, FunctionError, arity, string_arg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.functions import Function
    from dstream.protocol.values import JsonObject, JsonValue


def _base64encode(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    import base64

    arity("base64encode", args, 1)
    return base64.b64encode(string_arg("base64encode", args, 0).encode()).decode("ascii")


def _base64decode(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    import base64
    import binascii

    arity("base64decode", args, 1)
    text = string_arg("base64decode", args, 0)
    try:  # Go's decoder skips line breaks, and nothing else
        raw = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError(
            "base64decode() argument is not base64 (standard alphabet, with `=` padding)",
            hint="base64decode() reads what base64encode() writes",
        ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FunctionError(
            "base64decode() argument decodes to bytes that are not UTF-8 text",
            hint="dstream.hcl's strings are text; pass binary data on as base64",
        ) from None


def _urlencode(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    from urllib.parse import quote_plus  # Go's url.QueryEscape: " " is "+"

    arity("urlencode", args, 1)
    return quote_plus(string_arg("urlencode", args, 0), safe="")


def _hash(name: str) -> Function:
    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        import hashlib

        arity(name, args, 1)
        return hashlib.new(name, string_arg(name, args, 0).encode()).hexdigest()

    return call


_NAMESPACES = {  # RFC 4122's, by the names Terraform's uuidv5() knows them by
    "dns": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
    "url": "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
    "oid": "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
    "x500": "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
}


def _uuid_bytes(text: str) -> bytes:
    """A UUID written as Go's uuid.Parse reads it: 8-4-4-4-12 hex digits, with
    `urn:uuid:` before or in braces, or 32 hex digits; ValueError if not."""
    if len(text) == 45 and text[:9].lower() == "urn:uuid:":
        text = text[9:]
    elif len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    if len(text) == 36:
        if any(text[i] != "-" for i in (8, 13, 18, 23)):
            raise ValueError(text)
        text = text.replace("-", "")
    if len(text) != 32 or not all(c in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(text)
    return bytes.fromhex(text)


def _uuidv5(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    import hashlib

    arity("uuidv5", args, 2)
    namespace, name = string_arg("uuidv5", args, 0), string_arg("uuidv5", args, 1)
    try:
        space = _uuid_bytes(_NAMESPACES.get(namespace, namespace))
    except ValueError:
        raise FunctionError(
            f"argument 1 of uuidv5() {namespace!r} is no namespace",
            hint='give "dns", "url", "oid", "x500" or a UUID, as '
            '"6ba7b810-9dad-11d1-80b4-00c04fd430c8"',
        ) from None
    digest = bytearray(hashlib.sha1(space + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _CsvError(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def _csv_records(text: str) -> list[tuple[int, list[str]]]:
    """The records of `text` as Go's encoding/csv reads them (Terraform's csvdecode()),
    each with the line it starts on: `\\r\\n` is `\\n`, an empty line is no record, a
    quoted field may hold `,`, `""` and line breaks, a `"` in an unquoted field or after
    a quoted one is an error (_CsvError)."""
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and lines[-1].endswith("\r"):  # Go drops a `\r` that ends the text
        lines[-1] = lines[-1][:-1]
    records: list[tuple[int, list[str]]] = []
    number = 0
    while number < len(lines):
        start = number
        line = lines[number]
        number += 1
        if line == "":
            continue
        fields: list[str] = []
        at = 0
        while True:
            if line.startswith('"', at):  # a quoted field, over lines if need be
                value: list[str] = []
                at += 1
                while True:
                    close = line.find('"', at)
                    if close < 0:
                        value.append(line[at:])
                        if number >= len(lines):
                            raise _CsvError(start + 1, 'extraneous or missing " in quoted-field')
                        value.append("\n")
                        line, at = lines[number], 0
                        number += 1
                        continue
                    value.append(line[at:close])
                    at = close + 1
                    if line.startswith('"', at):
                        value.append('"')
                        at += 1
                        continue
                    break
                fields.append("".join(value))
                if at == len(line):
                    break
                if line[at] != ",":
                    raise _CsvError(number, 'extraneous or missing " in quoted-field')
                at += 1
            else:
                comma = line.find(",", at)
                field = line[at:] if comma < 0 else line[at:comma]
                if '"' in field:
                    raise _CsvError(number, 'bare " in non-quoted-field')
                fields.append(field)
                if comma < 0:
                    break
                at = comma + 1
        records.append((start + 1, fields))
    return records


def _csvdecode(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("csvdecode", args, 1)
    text = string_arg("csvdecode", args, 0)
    try:
        records = _csv_records(text)
    except _CsvError as exc:
        raise FunctionError(
            f"csvdecode(): CSV parse error on line {exc.line}: {exc.problem}"
        ) from None
    if not records:
        raise FunctionError(
            "csvdecode(): the text has no header line", hint="the first line names the columns"
        )
    header = records[0][1]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise FunctionError(f"csvdecode(): duplicate column name {name!r}")
        seen.add(name)
    out: list[JsonValue] = []
    for line, fields in records[1:]:
        if len(fields) != len(header):
            raise FunctionError(
                f"csvdecode(): CSV parse error on line {line}: wrong number of fields "
                f"({len(fields)}, the header has {len(header)})"
            )
        row: JsonObject = dict(sorted(zip(header, fields)))
        out.append(row)
    return out


ENCODING: dict[str, Builtin] = {
    "base64decode": Builtin("base64decode(s)", _base64decode),
    "base64encode": Builtin("base64encode(s)", _base64encode),
    "csvdecode": Builtin("csvdecode(s)", _csvdecode),
    "md5": Builtin("md5(s)", _hash("md5")),
    "sha1": Builtin("sha1(s)", _hash("sha1")),
    "sha256": Builtin("sha256(s)", _hash("sha256")),
    "sha512": Builtin("sha512(s)", _hash("sha512")),
    "urlencode": Builtin("urlencode(s)", _urlencode),
    "uuidv5": Builtin("uuidv5(namespace, name)", _uuidv5),
}
