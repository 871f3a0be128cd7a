"""Terraform's string functions beyond config/functions.py's: regex(), regexall(),
substr(), trim(), title(), formatlist() and the like, with Terraform's results and
errors (each checked against `terraform console` in tests/config/test_functions_*.py).

A "character" is what a reader sees (a grapheme cluster), as in Terraform's substr(),
strrev() and length()."""

from __future__ import annotations

from dstream.config.functions import (
    Builtin,
    CallContext,
    FunctionError,
    arity,
    compile_pattern,
    format_values,
    go_matches,
    of_string,
    string_arg,
    to_number,
)
from dstream.config.limits import REGEX_TIMEOUT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from dstream.config.functions import Function
    from dstream.protocol.values import JsonValue


def whole_arg(name: str, args: list[JsonValue], index: int) -> int:
    """Argument `index` as a whole number (a number, or text spelling one)."""
    what = f"argument {index + 1} of {name}()"
    if args[index] is None:
        raise FunctionError(f"{what} is null, not a number")
    number = to_number(args[index], what)
    if isinstance(number, float):  # a whole double is an int already (numbers.whole)
        raise FunctionError(f"{what} must be a whole number, not {number!r}")
    return number


def _characters(text: str) -> list[str]:
    """The grapheme clusters of `text`."""
    if text.isascii():
        return list(text)
    import regex  # with python-hcl2, as in functions.graphemes

    found: list[str] = regex.findall(r"\X", text)
    return found


# -- regular expressions ------------------------------------------------------------


def _groups_result(
    call: str, pattern_text: str, pattern: Any, names: dict[str, tuple[int, ...]]
) -> Callable[[Any], JsonValue]:  # Any: regex's
    """What one match gives, as Terraform's regex(): the matched text when the pattern
    has no groups, a list of the groups when they are unnamed, an object by name when
    they are named (a group that took no part: null). Named and unnamed groups together
    are an error, as in Terraform."""
    count: int = pattern.groups
    named = {number for numbers in names.values() for number in numbers}
    if count == 0:
        return lambda match: match.group(0)
    if not named:
        return lambda match: [match.group(i) for i in range(1, count + 1)]
    if len(named) < count:
        raise FunctionError(
            f"{call} pattern {pattern_text} has both named and unnamed groups",
            hint="name every group (?P<name>...), or none; write (?:...) for a group "
            "that only groups",
        )

    def by_name(match: Any) -> JsonValue:
        out: dict[str, JsonValue] = {}
        for number in range(1, count + 1):  # a name given twice: its last group's
            for name, numbers in names.items():
                if number in numbers:
                    out[name] = match.group(number)
        return dict(sorted(out.items()))

    return by_name


def _regex_call(name: str, args: list[JsonValue]) -> tuple[Any, str, Callable[[Any], JsonValue]]:
    arity(name, args, 2)
    source, text = string_arg(name, args, 0), string_arg(name, args, 1)
    pattern, names = compile_pattern(f"{name}()", "/" + source + "/")
    return pattern, text, _groups_result(f"{name}()", source, pattern, dict(names))


def _timed_out(name: str, source: str) -> FunctionError:
    return FunctionError(
        f"{name}() pattern {source} ran longer than {REGEX_TIMEOUT:g} s "
        "(it backtracks: nested repetition such as (a+)+)",
        hint="rewrite the pattern without a repetition inside a repetition",
    )


def _regex(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    pattern, text, result = _regex_call("regex", args)
    try:
        match = next(go_matches(pattern, text), None)
    except TimeoutError:
        raise _timed_out("regex", str(args[0])) from None
    if match is None:
        raise FunctionError(
            "regex() pattern did not match any part of the given string",
            hint="use regexall() for a list of the matches (empty when none), or "
            "can(regex(...)) to test whether it matches",
        )
    return result(match)


def _regexall(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    pattern, text, result = _regex_call("regexall", args)
    try:
        return [result(match) for match in go_matches(pattern, text)]
    except TimeoutError:
        raise _timed_out("regexall", str(args[0])) from None


# -- cutting and testing ------------------------------------------------------------


def _substr(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """Terraform's substr(), step for step (cty's Substr): a negative offset counts from
    the end; a negative length takes the rest; an offset past the end gives ""."""
    arity("substr", args, 3)
    text = string_arg("substr", args, 0)
    offset, length = whole_arg("substr", args, 1), whole_arg("substr", args, 2)
    characters = _characters(text)
    if offset < 0:
        offset = max(offset + len(characters), 0)
    elif length == 0:
        return ""
    if offset > len(characters):
        return ""
    rest = characters[offset:]
    if length < 0:
        return "".join(rest)
    # A length of 0 after a negative offset takes the rest, as cty's count to
    # `offset + length` never reaches it
    return "".join(rest[:length] if length else rest)


def _trim(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("trim", args, 2)
    return string_arg("trim", args, 0).strip(string_arg("trim", args, 1))


def _two_strings(name: str, apply: Callable[[str, str], JsonValue]) -> Function:
    def call(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
        arity(name, args, 2)
        return apply(string_arg(name, args, 0), string_arg(name, args, 1))

    return call


def _title(text: str) -> str:
    """Go's strings.Title, which Terraform's title() is: the first letter of each word
    upper case; a word follows a character other than a letter, digit or `_`."""
    out = []
    after_separator = True
    for c in text:
        titled = c.title()
        out.append(titled if after_separator and len(titled) == 1 else c)
        after_separator = _separates(c)
    return "".join(out)


def _separates(c: str) -> bool:
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdecimal():
        return False
    return c.isspace()


def _indent(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    arity("indent", args, 2)
    spaces, text = whole_arg("indent", args, 0), string_arg("indent", args, 1)
    if spaces < 0:
        raise FunctionError(f"argument 1 of indent() is {spaces}; it must not be negative")
    return text.replace("\n", "\n" + " " * spaces)


def _formatlist(ctx: CallContext, args: list[JsonValue]) -> JsonValue:
    """format() once for each element of the list arguments (all of one length); an
    argument that is no list is used for every one."""
    arity("formatlist", args, 1, 99)
    spec = string_arg("formatlist", args, 0)
    length, first = None, 0
    for index, value in enumerate(args[1:], start=2):
        if not isinstance(value, list):
            continue
        if length is None:
            length, first = len(value), index
        elif len(value) != length:
            raise FunctionError(
                f"argument {index} of formatlist() has {len(value)} element(s), but "
                f"argument {first} has {length}",
                hint="give every list argument the same length",
            )
    out: list[JsonValue] = []
    for i in range(1 if length is None else length):
        values = [v[i] if isinstance(v, list) else v for v in args[1:]]
        try:
            out.append(format_values(ctx, [spec, *values]))
        except FunctionError as exc:
            raise FunctionError(f"formatlist() element {i}: {exc.reason}", exc.hint) from None
    return out


def _strcontains(text: str, part: str) -> JsonValue:
    return part in text


TEXT: dict[str, Builtin] = {
    "chomp": Builtin("chomp(s)", of_string("chomp", lambda s: s.rstrip("\r\n"))),
    "endswith": Builtin("endswith(s, suffix)", _two_strings("endswith", str.endswith)),
    "formatlist": Builtin("formatlist(spec, values...)", _formatlist),
    "indent": Builtin("indent(spaces, s)", _indent),
    "regex": Builtin("regex(pattern, s)", _regex),
    "regexall": Builtin("regexall(pattern, s)", _regexall),
    "startswith": Builtin("startswith(s, prefix)", _two_strings("startswith", str.startswith)),
    "strcontains": Builtin("strcontains(s, part)", _two_strings("strcontains", _strcontains)),
    "strrev": Builtin("strrev(s)", of_string("strrev", lambda s: "".join(_characters(s)[::-1]))),
    "substr": Builtin("substr(s, offset, length)", _substr),
    "title": Builtin("title(s)", of_string("title", _title)),
    "trim": Builtin("trim(s, characters)", _trim),
    "trimprefix": Builtin("trimprefix(s, prefix)", _two_strings("trimprefix", str.removeprefix)),
    "trimsuffix": Builtin("trimsuffix(s, suffix)", _two_strings("trimsuffix", str.removesuffix)),
}
