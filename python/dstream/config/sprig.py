"""The Go text/template pipelines the original DStream ran over dstream.hcl, with the
Sprig functions its users' configurations use, evaluated lazily (one template at a
time, when the evaluator reaches it) so that a failure belongs to one task.

Each function gives the same string as Go's Sprig (github.com/Masterminds/sprig/v3):
`env`, `default`, `required`, `quote`, `squote`, `upper`, `lower`, `trim`,
`trimPrefix`, `trimSuffix`, `replace`, `b64enc`, `b64dec`, `now`, `date`. Two
deliberate differences, both on bad input: `{{ env "X" }}` with X unset is an error
naming X and its position (Sprig gives ""; `default` and `required` still see it as
empty), and `b64dec` of invalid base64 is an error (Sprig returns Go's error text as
the value).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Callable, Optional, Union

from dstream.config.functions import read_environment
from dstream.config.model import Location
from dstream.config.numbers import NUMBER_HINT, BadNumber, parse_number
from dstream.config.scope import FailsWhereUsed
from dstream.errors import ConfigError
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dstream.config.functions import CallContext


# Go text/template's control actions: `{{ if ... }}` is said to be one, not an undefined
# function.
GO_ACTIONS = frozenset({"if", "else", "end", "range", "with", "define", "template", "block",
                        "break", "continue"})  # fmt: skip
# What a template command is (the hint of an error in one).
VALUE_OR_FUNCTION = (
    'write a value alone, as in {{ "text" }}, or a function and its arguments, as in '
    '{{ env "NAME" }}'
)


class TemplateError(FailsWhereUsed):
    """A template failed while evaluated: it fails only the task that uses it."""


class TemplateSyntaxError(ConfigError):
    """A template that cannot be parsed: the whole file is wrong, as in the original."""


@record(frozen=True)
class Unset:
    """What `env` gives for a variable that is not set."""

    name: str


# -- parsing ----------------------------------------------------------------------------


@record(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


@record(frozen=True)
class Pipeline:
    commands: tuple[Call, ...]


Node = Union[str, int, float, bool, None, Call, Pipeline]
# What a template value can be: a literal, a time (`now`), or an unset variable.
Value = Union[str, int, float, bool, None, datetime.datetime, Unset]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<pipe>\|) | (?P<lparen>\() | (?P<rparen>\)) |
      (?P<esc>\\"(?P<esc_body>(?:[^"\\]|\\[^"])*)\\") |
      (?P<str>"(?P<str_body>(?:[^"\\\n]|\\.)*)") |
      (?P<raw>`(?P<raw_body>[^`]*)`) |
      (?P<num>-?\d+(?:\.\d+)?) |
      (?P<field>\.[A-Za-z_]\w*|\.) |
      (?P<ident>[A-Za-z_]\w*)
    )""",
    re.VERBOSE,
)
_GO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "a": "\a", "b": "\b",
               "f": "\f", "v": "\v", "'": "'"}  # fmt: skip


def _go_unquote(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        kind = text[1]
        if kind in _GO_ESCAPES:
            return _GO_ESCAPES[kind]
        if kind in "xuU":
            return chr(int(text[2:], 16))
        return chr(int(text[1:], 8))

    return re.sub(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", one, body)


def parse(action: str, where: Location) -> Pipeline:
    """Parse the inside of `{{ ... }}` (trim markers removed)."""
    tokens: list[tuple[str, Node]] = []  # (kind, literal value or name)
    pos = 0
    while pos < len(action):
        if action[pos:].strip() == "":
            break
        match = _TOKEN.match(action, pos)
        if not match:
            raise TemplateSyntaxError(
                f"cannot read the template at {action[pos : pos + 20]!r}",
                location=where,
                hint='write {{ env "NAME" }} or a Sprig pipeline such as '
                '{{ env "NAME" | default "x" }}',
            )
        pos = match.end()
        kind = match.lastgroup or ""
        if kind in ("esc_body", "esc"):
            tokens.append(("value", _go_unquote(match.group("esc_body"))))
        elif kind in ("str_body", "str"):
            tokens.append(("value", _go_unquote(match.group("str_body"))))
        elif kind in ("raw_body", "raw"):
            tokens.append(("value", match.group("raw_body")))
        elif kind == "num":
            try:
                tokens.append(("value", parse_number(match.group("num"))))
            except BadNumber as exc:  # an integer of too many digits
                raise TemplateSyntaxError(exc.reason, location=where, hint=NUMBER_HINT) from None
        elif kind == "field":
            raise TemplateSyntaxError(
                f"{match.group('field')} reads template data, and dstream.hcl is rendered "
                "without any",
                location=where,
                hint='read the environment with {{ env "NAME" }}, or use var.NAME',
            )
        elif kind == "ident":
            name = match.group("ident")
            literal = {"true": True, "false": False, "nil": None}
            tokens.append(("value", literal[name]) if name in literal else ("ident", name))
        else:
            tokens.append((kind, None))
    parser = _Parser(tokens, where)
    pipeline = parser.pipeline()
    if parser.pos != len(tokens):
        raise TemplateSyntaxError(
            "unexpected ')' in the template", location=where, hint="remove it, or add its `(`"
        )
    return pipeline


class _Parser:
    def __init__(self, tokens: list[tuple[str, Node]], where: Location) -> None:
        self.tokens = tokens
        self.pos = 0
        self.where = where

    def pipeline(self) -> Pipeline:
        commands = [self.command()]
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] == "pipe":
            self.pos += 1
            commands.append(self.command())
        return Pipeline(tuple(commands))

    def command(self) -> Call:
        operands: list[Node] = []
        while self.pos < len(self.tokens) and self.tokens[self.pos][0] not in ("pipe", "rparen"):
            kind, value = self.tokens[self.pos]
            self.pos += 1
            if kind == "lparen":
                operands.append(self.pipeline())
                if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "rparen":
                    raise self._error("a '(' in the template is not closed", "add the missing `)`")
                self.pos += 1
            elif kind == "ident":
                if value in GO_ACTIONS:
                    raise TemplateSyntaxError(
                        f'"{{{{ {value} }}}}" is a Go template action, which dstream\'s templates '
                        "do not take (they hold one value: a function call or a pipeline)",
                        location=self.where,
                        hint="write the choice in HCL: a conditional (`cond ? a : b`) or a for "
                        'expression, with env("X") for the value',
                    )
                if value not in FUNCTIONS:
                    raise TemplateSyntaxError(
                        f'function "{value}" not defined',
                        location=self.where,
                        hint="functions dstream's templates know: " + ", ".join(sorted(FUNCTIONS)),
                    )
                operands.append(Call(str(value), ()))
            else:
                operands.append(value)
        if not operands:
            raise self._error("empty command in the template", VALUE_OR_FUNCTION)
        head = operands[0]
        if isinstance(head, Call) and not head.args:
            return Call(head.name, tuple(operands[1:]))
        if len(operands) > 1:
            raise self._error("a value in a template takes no arguments", VALUE_OR_FUNCTION)
        return Call("", (head,))  # a literal, or a parenthesised pipeline

    def _error(self, reason: str, hint: str) -> TemplateSyntaxError:
        return TemplateSyntaxError(reason, location=self.where, hint=hint)


# -- evaluation -------------------------------------------------------------------------


def evaluate(pipeline: Pipeline, context: CallContext, where: Location) -> Value:
    """The pipeline's value (a string, as Go prints it, unless a literal is returned
    alone), reading the environment and noting the clock through `context`. Raises
    TemplateError."""
    value = _run(pipeline, context, where)
    if isinstance(value, Unset):
        raise _unset(value, where)
    return value


def _run(node: Node, context: CallContext, where: Location) -> Value:
    if isinstance(node, Pipeline):
        first, *rest = node.commands  # the parser makes no empty pipeline
        result = _call(first, context, where, _NOTHING)
        for command in rest:
            result = _call(command, context, where, result)
        return result
    if isinstance(node, Call):
        return _call(node, context, where, _NOTHING)
    return node


class _Nothing:
    """Nothing piped into a command (None cannot say it: it is Go's nil)."""


_NOTHING = _Nothing()


def _call(
    call: Call, context: CallContext, where: Location, piped: Union[Value, _Nothing]
) -> Value:
    args = [_run(a, context, where) for a in call.args]
    if not isinstance(piped, _Nothing):
        args.append(piped)  # a pipe passes the value on as the last argument
    if not call.name:
        if len(args) != 1:
            raise TemplateError(
                "a value in a template takes no arguments",
                location=where,
                hint=VALUE_OR_FUNCTION,
            )
        return args[0]
    if call.name == "env":
        if len(args) != 1:
            raise _arity("env", 1, len(args), where)
        name = _string(args[0], where)
        value = read_environment(context, name)
        return Unset(name) if value is None else value
    if call.name in ("default", "required"):
        return _defaulting(call.name, args, where)
    for arg in args:
        if isinstance(arg, Unset):
            raise _unset(arg, where)
    function, arity = FUNCTIONS[call.name]
    if arity is not None and len(args) != arity:
        raise _arity(call.name, arity, len(args), where)
    _note_outside(call.name, args, context)
    return function(args, where)


def _note_outside(name: str, args: list[Value], context: CallContext) -> None:
    """Note what a call reads besides its arguments: the clock (`now`, `date` without a
    time) or, to print a given time (`date` of a number), the local time zone."""
    if name == "now" or (name == "date" and len(args) < 2):
        context.reads.add_volatile(name)
    elif name == "date" and not isinstance(args[1], datetime.datetime):
        # Looked up only to be noted (config/reads.py): the zone printed is the
        # process's, from TZ, or from /etc/localtime when it is unset (not noted).
        context.environ.get("TZ")


def _defaulting(name: str, args: list[Value], where: Location) -> Value:
    if name == "default":
        if not args:
            raise _arity("default", 1, 0, where)
        given = args[1] if len(args) > 1 else None
        return args[0] if _empty(given) else given
    if len(args) != 2:
        raise _arity("required", 2, len(args), where)
    message, value = args
    if value is None or value == "" or isinstance(value, Unset):
        hint = (
            f"export {value.name}=... before running dstream"
            if isinstance(value, Unset)
            else "set the value the template requires"
        )
        raise TemplateError(str(message), location=where, hint=hint)
    return value


def _empty(value: Value) -> bool:
    """Sprig's empty(): nil, "", 0, false, an empty list or map; an unset variable."""
    if value is None or isinstance(value, Unset):
        return True
    if isinstance(value, (str, list, dict, tuple)):
        return len(value) == 0
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    return False


def _unset(value: Unset, where: Location) -> TemplateError:
    return TemplateError(
        f'environment variable {value.name} is not set (read by {{{{ env "{value.name}" }}}})',
        location=where,
        hint=f"export {value.name}=... before running dstream, or give a default: "
        f'{{{{ env "{value.name}" | default "value" }}}}',
    )


def _arity(name: str, want: int, got: int, where: Location) -> TemplateError:
    return TemplateError(
        f"wrong number of args for {name}: want {want} got {got}",
        location=where,
        hint="a pipe passes its value as the last argument",
    )


def go_string(value: object) -> str:
    """fmt.Sprint of a template value (Sprig's strval)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e21 else repr(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f %z")
    return str(value)


def _string(value: Value, where: Location) -> str:
    return go_string(value)


def go_unquote_literal(text: str) -> str:
    """A value pasted where HCL expects an expression: a quoted string (what `quote`
    gives) is read as the string it spells, as HCL read the original's paste."""
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return _go_unquote(text[1:-1])
    return text


def go_quote(text: str) -> str:
    """Go's strconv.Quote (fmt's %q of a string)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[ch])  # fmt: skip
        elif ch.isprintable():
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _b64dec(args: list[Value], where: Location) -> str:
    text = go_string(args[0])
    try:
        return base64.b64decode(text.encode(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise TemplateError(
            f"b64dec: {text[:40]!r} is not valid base64", location=where,
            hint="check the value, or drop b64dec",
        ) from None  # fmt: skip


def _date(args: list[Value], where: Location) -> str:
    if not args or len(args) > 2:
        raise _arity("date", 2, len(args), where)
    when = args[1] if len(args) == 2 else datetime.datetime.now().astimezone()
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        when = datetime.datetime.fromtimestamp(when).astimezone()
    if not isinstance(when, datetime.datetime):
        raise TemplateError(
            "date needs a time, such as now",
            location=where,
            hint='write {{ now | date "2006-01-02" }} or {{ date "2006-01-02" now }}',
        )
    return go_format(when.astimezone(), go_string(args[0]))


# Go's reference-time layout elements, longest first where one is a prefix of another.
_LAYOUT = re.compile(
    r"January|Jan|Monday|Mon|MST|2006|Z07:00|Z0700|Z07|-07:00|-0700|-07|"
    r"\.0+|\.9+|,0+|,9+|002|01|02|_2|03|04|05|06|15|PM|pm|1|2|3|4|5"
)


def go_format(when: datetime.datetime, layout: str) -> str:
    """time.Time.Format for the layout elements configs use."""

    def zone(colon: bool, z: bool) -> str:
        offset = when.utcoffset() or datetime.timedelta(0)
        if z and not offset:
            return "Z"
        minutes = int(offset.total_seconds() // 60)
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{sign}{hours:02d}:{mins:02d}" if colon else f"{sign}{hours:02d}{mins:02d}"

    def element(match: re.Match[str]) -> str:
        e = match.group(0)
        hour12 = when.hour % 12 or 12
        simple: dict[str, Callable[[], str]] = {
            "January": lambda: when.strftime("%B"), "Jan": lambda: when.strftime("%b"),
            "Monday": lambda: when.strftime("%A"), "Mon": lambda: when.strftime("%a"),
            "MST": lambda: when.strftime("%Z") or zone(False, False),
            "2006": lambda: f"{when.year:04d}", "06": lambda: f"{when.year % 100:02d}",
            "01": lambda: f"{when.month:02d}", "1": lambda: str(when.month),
            "02": lambda: f"{when.day:02d}", "2": lambda: str(when.day),
            "_2": lambda: f"{when.day:2d}", "002": lambda: f"{when.timetuple().tm_yday:03d}",
            "15": lambda: f"{when.hour:02d}", "03": lambda: f"{hour12:02d}",
            "3": lambda: str(hour12), "04": lambda: f"{when.minute:02d}",
            "4": lambda: str(when.minute), "05": lambda: f"{when.second:02d}",
            "5": lambda: str(when.second), "PM": lambda: "PM" if when.hour >= 12 else "AM",
            "pm": lambda: "pm" if when.hour >= 12 else "am",
            "Z07:00": lambda: zone(True, True), "Z0700": lambda: zone(False, True),
            "Z07": lambda: zone(False, True)[:3], "-07:00": lambda: zone(True, False),
            "-0700": lambda: zone(False, False), "-07": lambda: zone(False, False)[:3],
        }  # fmt: skip
        if e in simple:
            return simple[e]()
        digits = f"{when.microsecond:06d}000"[: len(e) - 1]
        if e[1] == "9":
            digits = digits.rstrip("0")
            return e[0] + digits if digits else ""
        return e[0] + digits

    return _LAYOUT.sub(element, layout)


Function = Callable[[list[Value], Location], Value]


def _strings(fn: Callable[..., str]) -> Function:
    return lambda args, where: fn(*[go_string(a) for a in args])


def _in_call(args: list[Value], where: Location) -> Value:
    raise AssertionError("env, default and required are evaluated in _call")


# Each function and how many arguments it takes (None: any number).
FUNCTIONS: dict[str, tuple[Function, Optional[int]]] = {
    "env": (_in_call, 1),
    "default": (_in_call, None),
    "required": (_in_call, 2),
    "quote": (lambda a, w: " ".join(go_quote(go_string(x)) for x in a if x is not None), None),
    "squote": (lambda a, w: " ".join(f"'{go_string(x)}'" for x in a if x is not None), None),
    "upper": (_strings(str.upper), 1),
    "lower": (_strings(str.lower), 1),
    "trim": (_strings(lambda s: s.strip(" \t\n\r\v\f\x85\xa0")), 1),
    "trimPrefix": (_strings(lambda p, s: s[len(p) :] if p and s.startswith(p) else s), 2),
    "trimSuffix": (_strings(lambda x, s: s[: -len(x)] if x and s.endswith(x) else s), 2),
    "replace": (_strings(lambda old, new, s: s.replace(old, new)), 3),
    "b64enc": (_strings(lambda s: base64.b64encode(s.encode()).decode()), 1),
    "b64dec": (_b64dec, 1),
    "now": (lambda a, w: datetime.datetime.now().astimezone(), 0),
    "date": (_date, None),
}
