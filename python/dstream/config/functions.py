"""The HCL functions a dstream.hcl may call, with Terraform's names and behaviour.

Each function takes the evaluation context and already evaluated arguments and returns
a plain Python value (str, int, float, bool, None, list, dict). A wrong call raises
FunctionError; the evaluator adds file:line:col.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator, Mapping

from dstream.config.limits import (
    MAX_FORMAT_WIDTH,
    MAX_STRING,
    REGEX_TIMEOUT,
    TooDeep,
    check_nesting,
)
from dstream.config.numbers import (
    NUMBER_HINT,
    OUT_OF_RANGE,
    BadNumber,
    decode_config_json,
    format_number,
    parse_number,
)
from dstream.config.redact import is_secret_variable
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional

    from dstream.config.model import Reads
    from dstream.config.taint import Taint
    from dstream.protocol.values import JsonObject, JsonValue


class FunctionError(Exception):
    def __init__(self, reason: str, hint: Optional[str] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


class EnvUnset(FunctionError):
    """env("NAME") of a variable that is not set and has no default."""


class NumberOutOfRange(FunctionError):
    """Text that spells a number no configuration value can hold (1e400): `problem`
    says what without quoting the text, which may be a secret."""

    def __init__(self, what: str, exc: BadNumber) -> None:
        super().__init__(f"{what} is {exc.problem}", NUMBER_HINT)
        self.problem = exc.problem


@record
class CallContext:
    environ: Mapping[str, str]
    base_dir: str  # directory of the file being evaluated, for file()
    reads: Reads  # the module's: a function that reads a file or the clock notes it
    taint: Optional[Taint] = None  # the module's: a credential read from environ is marked


if TYPE_CHECKING:
    Function = Callable[[CallContext, list[JsonValue]], JsonValue]


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def equal(left: object, right: object) -> bool:
    """HCL's `==`: values of different types are never equal, in collections too (`true`
    is not `1`, `[1]` is not `[true]`, as cty's Equals; Python's `==` says they are)."""
    if type_name(left) != type_name(right):
        return False
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(equal(left[k], right[k]) for k in left)
    return bool(left == right)


def to_string(value: object, what: str = "value") -> str:
    """HCL's automatic conversion to string: primitives only."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if value is None:
        raise FunctionError(f"{what} is null, not a string")
    raise FunctionError(
        f"{what} is a {type_name(value)}, not a string",
        hint='use join(", ", ...) for a list or jsonencode(...) for any value',
    )


# cty's conversion of text to bool (Terraform's, in tobool(), conditions and bool
# variables): exactly these texts.
_BOOL_TEXTS = {"true": True, "1": True, "false": False, "0": False}


def as_bool(value: object) -> Optional[bool]:
    """HCL's conversion to bool: a bool, or the string "true", "false", "1" or "0" (as
    cty's); None for anything else, so each caller words its own error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _BOOL_TEXTS.get(value)
    return None


# cty's conversion of text to number (Go's big.Float.Parse in base 10): a sign, digits
# with a point anywhere (`007`, `.5`, `5.`), a decimal exponent or a binary one (`1p3`
# is 8); "Inf" too, which no configuration value can be. No space, `_` or `0x` (" 5" is
# not a number, in Terraform).
_NUMBER = r"([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(?:([eE])([+-]?[0-9]+)|[pP]([+-]?[0-9]+))?\Z"
_INFINITY = r"[+-]?[Ii]nf\Z"
_MAX_BINARY_EXPONENT = 4096  # 2**1024 is beyond a double already


def to_number(value: object, what: str = "value") -> float:
    if isinstance(value, bool):
        raise FunctionError(f"{what} is a bool, not a number")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str) and (spelled := re.match(_NUMBER, value)):
        try:
            return _parsed(spelled)
        except BadNumber as exc:
            raise NumberOutOfRange(what, exc) from None
    if isinstance(value, str) and re.match(_INFINITY, value):
        raise NumberOutOfRange(what, BadNumber(value, f"a number {OUT_OF_RANGE}", value))
    raise FunctionError(f"{what} {value!r} is not a number")


def _parsed(spelled: re.Match[str]) -> float:
    """The number a text matching _NUMBER spells: as parse_number reads a literal, or,
    with a binary exponent, the mantissa times a power of two (rounded once)."""
    sign, mantissa, decimal, exponent, binary = spelled.groups()
    if binary is None:
        return parse_number(sign + mantissa + (decimal or "") + (exponent or ""))
    from fractions import Fraction  # only for a binary exponent

    power = int(binary)
    if power > _MAX_BINARY_EXPONENT:
        raise BadNumber(spelled.string, f"a number {OUT_OF_RANGE}", spelled.string)
    exact = Fraction(mantissa) * Fraction(2) ** max(power, -_MAX_BINARY_EXPONENT)
    exact = -exact if sign == "-" else exact
    if exact.denominator == 1:
        return parse_number(str(exact.numerator))
    try:
        return parse_number(repr(float(exact)))
    except OverflowError:  # beyond a double
        raise BadNumber(spelled.string, f"a number {OUT_OF_RANGE}", spelled.string) from None


def arity(name: str, args: list[JsonValue], low: int, high: Optional[int] = None) -> None:
    high = low if high is None else high
    if low <= len(args) <= high:
        return
    want = str(low) if low == high else f"{low} to {high}" if high < 99 else f"at least {low}"
    raise FunctionError(f"{name}() takes {want} argument(s), got {len(args)}")


def string_arg(name: str, args: list[JsonValue], index: int) -> str:
    return to_string(args[index], f"argument {index + 1} of {name}()")


def list_arg(name: str, args: list[JsonValue], index: int) -> list[JsonValue]:
    value = args[index]
    if not isinstance(value, list):
        raise FunctionError(f"argument {index + 1} of {name}() is a {type_name(value)}, not a list")
    return value


def read_environment(ctx: CallContext, name: str) -> Optional[str]:
    """The environment variable `name` (None when unset), for env() and `{{ env }}`: a
    credential's value (config/redact.py) is sensitive, as a sensitive variable's."""
    value = ctx.environ.get(name)
    if value is not None and ctx.taint is not None and is_secret_variable(name, value):
        ctx.taint.read_secret(value)
    return value


def _env(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("env", args, 1, 2)
    name = string_arg("env", args, 0)
    value = read_environment(ctx, name)
    if value is not None:
        return value
    if len(args) == 2:
        return args[1]
    raise EnvUnset(
        f"environment variable {name} is not set",
        hint=f'export {name}=..., or give a default: env("{name}", "value")',
    )


def of_string(name: str, change: Callable[[str], str]) -> Function:
    """A function of one string argument: upper(), lower(), trimspace(), title(), ..."""

    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        arity(name, args, 1)
        return change(string_arg(name, args, 0))

    return call


def _join(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("join", args, 2, 99)
    separator = string_arg("join", args, 0)
    items: list[str] = []
    for index in range(1, len(args)):
        items.extend(
            to_string(item, f"an element of argument {index + 1} of join()")
            for item in list_arg("join", args, index)
        )
    return separator.join(items)


def _split(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("split", args, 2)
    separator, text = string_arg("split", args, 0), string_arg("split", args, 1)
    # By "", into characters (code points, as Go's strings.Split), as Terraform's.
    pieces: list[JsonValue] = list(text.split(separator) if separator else text)
    return pieces


def _concat(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    out: list[JsonValue] = []
    for index in range(len(args)):
        out.extend(list_arg("concat", args, index))
    return out


def _merge(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    out: JsonObject = {}
    for index, value in enumerate(args):
        if value is None:
            continue
        if not isinstance(value, dict):
            raise FunctionError(
                f"argument {index + 1} of merge() is a {type_name(value)}, not an object"
            )
        out.update(value)
    return out


# A verb: flags, an argument's number ([2]: the second value), width, precision, letter.
_VERB = r"%([-+ 0#]*)(?:\[(\d+)\])?(\d+)?(?:\.(\d+))?([a-zA-Z%])"


def format_values(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """Terraform's format(): %s %d %f %v %q %t %% with flags, width, precision and
    argument numbers (`%[2]s`: the second value; the next verb takes the third)."""
    arity("format", args, 1, 99)
    spec = string_arg("format", args, 0)
    values = list(args[1:])
    out: list[str] = []
    position = 0
    following = 0  # the value the next verb without a number takes
    numbered = False  # a verb named its value: values left over are not a mistake (Go's)
    for match in re.finditer(_VERB, spec):
        out.append(_format_text(spec, position, match.start()))
        position = match.end()
        flags, number, width, precision, verb = match.groups()
        for size in (width, precision):
            if size is not None and int(size) > MAX_FORMAT_WIDTH:
                raise FunctionError(
                    f"format() width or precision {int(size):,} in {match.group(0)!r} is "
                    f"larger than {MAX_FORMAT_WIDTH}",
                    hint="pad with a width of at most 1024",
                )
        if verb == "%":
            out.append("%")
            continue
        if number is not None:
            if not 1 <= int(number) <= len(values):
                raise FunctionError(
                    f"format() verb {match.group(0)!r} refers to value {int(number)}, "
                    f"but got {len(values)}"
                )
            following, numbered = int(number) - 1, True
        if following >= len(values):
            raise FunctionError(f"format() has more verbs than values ({match.group(0)!r})")
        value = values[following]
        following += 1
        out.append(_format_verb(ctx, flags, width, verb, precision, value))
    out.append(_format_text(spec, position, len(spec)))
    if following < len(values) and not numbered:
        raise FunctionError(
            f"format() got {len(values)} values; value {following + 1} is not used "
            "(no verb is left for it)"
        )
    return "".join(out)


def _format_text(spec: str, start: int, end: int) -> str:
    """The text between two verbs, which has no `%` left (`%5`, a `%` at the end: an error,
    as Terraform's, not text)."""
    stray = spec.find("%", start, end)
    if stray >= 0:
        raise FunctionError(
            f"format() spec has a `%` that starts no verb at character {stray + 1}: "
            f"{spec[stray : stray + 4]!r}",
            hint="write %% for a percent sign; a verb ends with its letter, as in %5d",
        )
    return spec[start:end]


def _format_verb(
    ctx: CallContext,
    flags: str,
    width: Optional[str],
    verb: str,
    precision: Optional[str],
    value: JsonValue,
) -> str:
    """One verb of format()."""
    head = "%" + flags + (width or "")
    dot = f".{precision}" if precision is not None else ""
    if verb == "s":
        text = to_string(value, "a %s value")
        if "0" in flags and "-" not in flags:  # Go pads a string with zeros too
            cut = text if precision is None else text[: int(precision)]
            return cut.rjust(int(width or 0), "0")
        return (head + dot + "s") % text
    if verb == "d":
        number = to_number(value, "a %d value")
        if isinstance(number, float) and number.is_integer():  # beyond int64 (1e20)
            number = int(number)  # exact: a whole double is an integer
        if isinstance(number, float):
            raise FunctionError(
                "a %d value must be a whole number", 'write "%.0f" to round it, or "%v"'
            )
        return (head + dot + "d") % number
    if verb in "fF" and isinstance(value, int) and not isinstance(value, bool):
        return _exact_fixed(value, flags, width, precision)
    if verb in "fFeEgG":
        number = to_number(value, f"a %{verb} value")
        try:
            return (head + dot + verb) % number
        except OverflowError:  # an integer beyond a double
            what = f"a %{verb} value is a number {OUT_OF_RANGE}"
            raise FunctionError(what, NUMBER_HINT) from None
    if verb == "t":
        if not isinstance(value, bool):
            raise FunctionError("a %t value must be a bool")
        return (head + "s") % ("true" if value else "false")
    if verb == "q":
        from dstream.config.gojson import go_json  # on first use: a start pays nothing

        return (head + "s") % go_json(to_string(value, "a %q value"))
    if verb == "v":
        return (head + "s") % _shown_v(value)
    raise FunctionError(f"format() does not know the verb %{verb}")


def _shown_v(value: JsonValue) -> str:
    """A value as Terraform's %v writes it: a string as it is, a number as Go's %v of
    it, anything else as jsonencode() writes it."""
    from dstream.config.gojson import go_json, go_number_v  # on first use, as above

    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return go_number_v(value)
    return go_json(value)


def _exact_fixed(number: int, flags: str, width: Optional[str], precision: Optional[str]) -> str:
    """%f of an integer, every digit kept (a double would round 2**64 + 1), as
    Terraform's exact numbers: its digits, `precision` zeros (6 unless given), the sign
    and padding the flags ask for."""
    places = 6 if precision is None else int(precision)
    text = str(abs(number)) + ("." + "0" * places if places else "")
    sign = "-" if number < 0 else "+" if "+" in flags else " " if " " in flags else ""
    pad = max(0, int(width or 0) - len(sign) - len(text))
    if "-" in flags:
        return sign + text + " " * pad
    if "0" in flags:
        return sign + "0" * pad + text
    return " " * pad + sign + text


def _replace(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("replace", args, 3)
    text, search, replacement = (string_arg("replace", args, i) for i in range(3))
    if len(search) > 1 and search.startswith("/") and search.endswith("/"):
        pattern, names = compile_pattern("replace()", search)
        expand = _expansion(replacement, names)
        try:
            return _replace_all(pattern, text, expand)
        except TimeoutError:
            raise FunctionError(
                f"replace() pattern {search} ran longer than {REGEX_TIMEOUT:g} s "
                "(it backtracks: nested repetition such as (a+)+)",
                hint="rewrite the pattern without a repetition inside a repetition",
            ) from None
    return text.replace(search, replacement)


def compile_pattern(
    call: str, search: str
) -> tuple[Any, Mapping[str, tuple[int, ...]]]:  # Any: regex's
    """The RE2 pattern between the slashes of `search`, compiled to run as Terraform's
    (config/re2.py), and the numbers of its named groups."""
    # `regex`, not `re`: it can stop a backtracking pattern (`(a+)+$` on 40 a's runs
    # for minutes) after REGEX_TIMEOUT seconds. It comes with python-hcl2.
    import regex

    from dstream.config.re2 import BadPattern, translate

    try:
        translated = translate(search[1:-1])
        return regex.compile(translated.pattern), translated.names
    except BadPattern as exc:
        raise FunctionError(f"{call} pattern {search} {exc.reason}", exc.hint) from None
    except RecursionError:  # the engine's compiler recurses per group
        raise FunctionError(
            f"{call} pattern {search} nests too deeply for the regular expression engine",
            hint="write it with fewer groups inside groups",
        ) from None


def _replace_all(pattern: Any, text: str, expand: Callable[[Any], str]) -> str:  # Any: regex's
    """Every match of `pattern` in `text` replaced, as Go's ReplaceAllString (Terraform's)
    does: at each match go_matches finds."""
    out: list[str] = []
    last_end = 0
    for match in go_matches(pattern, text):
        out += [text[last_end : match.start()], expand(match)]
        last_end = match.end()
    out.append(text[last_end:])
    return "".join(out)


def go_matches(pattern: Any, text: str) -> Iterator[Any]:  # Any: regex's
    """The matches of `pattern` in `text` as Go's regexp finds them all (Terraform's
    replace() and regexall()): the next search starts where a match ends, one character
    on after an empty one (Python's would try a longer match there: `a*?` in "aa"), and
    an empty match right where the one before ended is no match (`a*` in "aaa" matches
    once, where Python's finds two). REGEX_TIMEOUT bounds all the searches together:
    TimeoutError."""
    last_end = -1
    search = 0
    deadline = time.monotonic() + REGEX_TIMEOUT
    while search <= len(text):
        match = pattern.search(text, search, timeout=max(deadline - time.monotonic(), 0.001))
        if match is None:
            return
        start, end = match.span()
        if end > start or start != last_end:
            yield match
        last_end = end
        search = max(end, search + 1)


def _expansion(template: str, names: Mapping[str, tuple[int, ...]]) -> Callable[[Any], str]:
    """Terraform's replacement text (Go's Regexp.Expand), as a function of a match:
    `$name` or `${name}` is the group of that number or name (the first so named that
    took part), empty when there is no such group or it took no part; `$$` is `$`; any
    other `$` and every backslash are text. A name is the longest run of letters, digits
    and `_` (`$1x` is group "1x"; `$01` too, a number has no leading zero)."""
    parts: list[tuple[bool, str]] = []  # (a group's name, else text)
    text: list[str] = []
    i = 0
    while i < len(template):
        name, end = _reference(template, i)
        if name is None:
            text.append("$" if template.startswith("$$", i) else template[i])
            i = end
            continue
        parts += [(False, "".join(text)), (True, name)]
        text, i = [], end
    parts.append((False, "".join(text)))

    def expand(match: Any) -> str:  # Any: a `regex` match
        out = []
        for is_group, piece in parts:
            if not is_group:
                out.append(piece)
                continue
            numbered = piece.isascii() and piece.isdigit() and (piece == "0" or piece[0] != "0")
            for number in [int(piece)] if numbered else names.get(piece, ()):
                with contextlib.suppress(IndexError):  # no such group: empty, as Go's
                    if match.group(number) is not None:
                        out.append(match.group(number))
                        break
        return "".join(out)

    return expand


def _reference(template: str, i: int) -> tuple[Optional[str], int]:
    """The group name of a `$` reference at `i` and where it ends; else None and where
    the text at `i` ends (past `$$`, or the one character)."""
    if template[i] != "$":
        return None, i + 1
    if template.startswith("$$", i):
        return None, i + 2
    braced = template.startswith("${", i)
    start = i + 2 if braced else i + 1
    end = start
    while end < len(template) and (template[end] == "_" or template[end].isalnum()):
        end += 1
    if end == start or (braced and not template.startswith("}", end)):
        return None, i + 1  # malformed: the `$` is text
    return template[start:end], end + 1 if braced else end


def _tostring(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("tostring", args, 1)
    return None if args[0] is None else to_string(args[0], "argument of tostring()")


def _tonumber(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("tonumber", args, 1)
    return None if args[0] is None else to_number(args[0], "argument of tonumber()")


def _tobool(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("tobool", args, 1)
    value = args[0]
    if value is None:
        return None
    converted = as_bool(value)
    if converted is not None:
        return converted
    raise FunctionError(
        f"argument of tobool() {value!r} is not true or false",
        hint='tobool() converts true, false and the strings "true", "false", "1" and "0"',
    )


def _jsonencode(ctx: CallContext, args: list[JsonValue]) -> str:
    arity("jsonencode", args, 1)
    from dstream.config.gojson import go_json  # on first use: a start pays nothing

    return go_json(args[0])


def _jsondecode(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("jsondecode", args, 1)
    text = string_arg("jsondecode", args, 0)
    try:
        check_nesting(text, templates=False)
    except TooDeep as exc:
        raise FunctionError(f"jsondecode() argument is {exc.reason}") from None
    try:
        decoded = decode_config_json(text)
    except BadNumber as exc:
        raise FunctionError(f"jsondecode() argument holds {exc.problem}", NUMBER_HINT) from None
    except json.JSONDecodeError as exc:
        raise FunctionError(f"jsondecode() argument is not JSON: {exc}") from None
    return decoded


def _file(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("file", args, 1)
    path = string_arg("file", args, 0)
    full = path if os.path.isabs(path) else os.path.join(ctx.base_dir, path)
    ctx.reads.add_file(full)  # also when it fails: its appearing would change the result
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FunctionError(
            f"file({path!r}): no such file (looked at {full})",
            hint="paths are relative to the directory of the .hcl file",
        ) from None
    except OSError as exc:
        raise FunctionError(f"file({path!r}) cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FunctionError(
            f"file({path!r}) is not a regular file (a device, FIFO or directory)",
            hint="file() reads ordinary files only",
        )
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(MAX_STRING + 1)
    if len(raw) > MAX_STRING:
        raise FunctionError(
            f"file({path!r}) is larger than {MAX_STRING // 1024**2} MiB",
            hint="file() reads small files (certificates, keys, SQL), not data",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FunctionError(
            f"file({path!r}) is not UTF-8 text (byte offset {exc.start})",
            hint="file() reads text; save it as UTF-8",
        ) from None


def _coalesce(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """The first argument that is neither null nor "", of the type all of them unify to,
    as Terraform's: coalesce(1, "a") is "1", coalesce("", 1) is "1"."""
    present: list[JsonValue] = [value for value in args if value is not None]
    if len({type_name(value) for value in present}) > 1 or any(
        isinstance(value, (list, dict)) for value in present
    ):
        present = _unified("coalesce", present)
    for value in present:
        if value != "":
            return value
    raise FunctionError("coalesce() got no non-null, non-empty argument")


def _unified(name: str, values: list[JsonValue]) -> list[JsonValue]:
    """`values` converted to the one type they unify to (config/unify.py), or an error
    naming their kinds (never what they hold: one may be a secret)."""
    # Here, not at import: unify needs typeexpr, which a plain start does not load.
    from dstream.config.typeexpr import convert
    from dstream.config.unify import NoCommonType, type_of, unify

    try:
        common = unify([type_of(value) for value in values])
    except NoCommonType as exc:
        raise FunctionError(
            f"the arguments of {name}() have no common type ({exc.detail(hide_keys=True)})",
            "give every argument the same type: convert with tostring(), tonumber() or "
            "tobool(), or give lists the same kind of elements and objects the same "
            "attributes",
        ) from None
    return [convert(value, common) for value in values]


def _length(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("length", args, 1)
    value = args[0]
    if isinstance(value, str):
        return graphemes(value)
    if isinstance(value, (list, dict)):
        return len(value)
    raise FunctionError(f"length() of a {type_name(value)}: it needs a string, list or object")


def graphemes(text: str) -> int:
    """The characters a reader sees (Unicode grapheme clusters), as Terraform's length()
    counts them: a flag of two code points, or `e` and a combining accent, is one."""
    if text.isascii():  # one code point each, and no `regex` to import
        return len(text)
    import regex  # with python-hcl2, as in _replace

    return len(regex.findall(r"\X", text))


def _upper(text: str) -> str:
    """Go's strings.ToUpper, which Terraform's upper() is: a letter without a capital of
    one letter (ß) stays as it is, where Python's gives two (SS)."""
    return "".join(c if len(c.upper()) != 1 else c.upper() for c in text)


def _lower(text: str) -> str:
    """Go's strings.ToLower, which Terraform's lower() is: each letter by itself (a
    capital sigma ending a word gives the small sigma any other does, where Python's
    gives the final form), İ as i (Python's gives i and a combining dot)."""
    if text.isascii():
        return text.lower()
    return "".join(_GO_LOWER.get(c) or c.lower() for c in text)


# Where Go's simple mapping differs from Python's per letter: İ's lower case is one
# letter in Go (its full mapping, Python's, is i and a combining dot).
_GO_LOWER = {"\u0130": "i"}


def _keys(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("keys", args, 1)
    if not isinstance(args[0], dict):
        raise FunctionError(f"keys() of a {type_name(args[0])}: it needs an object")
    keys: list[JsonValue] = list(sorted(args[0]))
    return keys


def _values(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("values", args, 1)
    if not isinstance(args[0], dict):
        raise FunctionError(f"values() of a {type_name(args[0])}: it needs an object")
    return [args[0][key] for key in sorted(args[0])]


def _lookup(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("lookup", args, 2, 3)
    mapping, key = args[0], string_arg("lookup", args, 1)
    if not isinstance(mapping, dict):
        raise FunctionError(f"lookup() of a {type_name(mapping)}: it needs an object")
    if key in mapping:
        return mapping[key]
    if len(args) == 3:
        return args[2]
    raise FunctionError(f"lookup(): no key {key!r}; keys: {', '.join(sorted(mapping))}")


def _contains(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("contains", args, 2)
    return any(equal(item, args[1]) for item in list_arg("contains", args, 0))


@record(frozen=True)
class Builtin:
    """A function dstream.hcl may call: how it is called, as docs/configuration.md
    writes it (the hint of an error in a call), and what it does."""

    usage: str
    call: Function


# The functions of this module, by name (config/builtins.py joins every table).
CORE: dict[str, Builtin] = {
    "coalesce": Builtin("coalesce(v, ...)", _coalesce),
    "concat": Builtin("concat(list, ...)", _concat),
    "contains": Builtin("contains(list, v)", _contains),
    "env": Builtin("env(name, default)", _env),
    "file": Builtin("file(path)", _file),
    "format": Builtin("format(spec, values...)", format_values),
    "join": Builtin("join(sep, list, ...)", _join),
    "jsondecode": Builtin("jsondecode(s)", _jsondecode),
    "jsonencode": Builtin("jsonencode(v)", _jsonencode),
    "keys": Builtin("keys(obj)", _keys),
    "length": Builtin("length(v)", _length),
    "lookup": Builtin("lookup(obj, key, default)", _lookup),
    "lower": Builtin("lower(s)", of_string("lower", _lower)),
    "merge": Builtin("merge(obj, ...)", _merge),
    "replace": Builtin("replace(s, search, replacement)", _replace),
    "split": Builtin("split(sep, s)", _split),
    "tobool": Builtin("tobool(v)", _tobool),
    "tonumber": Builtin("tonumber(v)", _tonumber),
    "tostring": Builtin("tostring(v)", _tostring),
    "trimspace": Builtin("trimspace(s)", of_string("trimspace", str.strip)),
    "upper": Builtin("upper(s)", of_string("upper", _upper)),
    "values": Builtin("values(obj)", _values),
}
