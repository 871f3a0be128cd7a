"""Terraform's regular expressions (RE2 syntax, as Go's regexp reads it) in the syntax of
the `regex` module that runs them.

A dstream.hcl is written in Terraform's language, so `replace(s, "/re/", r)` takes what
Go's regexp takes (https://github.com/google/re2/wiki/Syntax). Python's syntax reads some
of it otherwise (`$` also matches before a final newline, `\\d` matches any Unicode
digit, `(?U)` is a flag of its own, `a{,3}` repeats) and takes constructs RE2 refuses
(lookaround, backreferences, possessive repetition). translate() walks the pattern as
Go's parser does (regexp/syntax, with the flags regexp.Compile gives it) and writes
every piece in a form whose meaning in `regex` is RE2's: flags become scoped groups
around each piece they apply to, classes become explicit ranges, assertions become the
ones that mean the same. What RE2 refuses is refused with what and where.
"""

from __future__ import annotations

from dstream.config.limits import MAX_REGEX_NESTING
from dstream.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

SYNTAX = "https://github.com/google/re2/wiki/Syntax"
REFUSED_HINT = (
    f"Terraform would refuse this pattern too: its regular expressions are RE2 ({SYNTAX})"
)
MAX_REPEAT = 1000  # Go's bound on a {n,m} count, and on counts nested in each other
MAX_RUNE = 0x10FFFF

# Go's ASCII classes: [[:name:]], and the Perl ones \d \s \w (ASCII only in RE2, where
# Python's match any Unicode digit, space or letter).
Ranges = tuple[tuple[int, int], ...]
_DIGIT: Ranges = ((0x30, 0x39),)
_WORD: Ranges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
POSIX: dict[str, Ranges] = {
    "alnum": ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)),
    "alpha": ((0x41, 0x5A), (0x61, 0x7A)),
    "ascii": ((0x00, 0x7F),),
    "blank": ((0x09, 0x09), (0x20, 0x20)),
    "cntrl": ((0x00, 0x1F), (0x7F, 0x7F)),
    "digit": _DIGIT,
    "graph": ((0x21, 0x7E),),
    "lower": ((0x61, 0x7A),),
    "print": ((0x20, 0x7E),),
    "punct": ((0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)),
    "space": ((0x09, 0x0D), (0x20, 0x20)),
    "upper": ((0x41, 0x5A),),
    "word": _WORD,
    "xdigit": ((0x30, 0x39), (0x41, 0x46), (0x61, 0x66)),
}
PERL: dict[str, Ranges] = {"d": _DIGIT, "s": ((0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)), "w": _WORD}
# Go's Unicode general categories (unicode.Categories): no Cn, LC or L&, which `regex`
# knows. Its "C" is Cc, Cf, Co and Cs; `regex`'s also holds the unassigned code points.
CATEGORIES = frozenset(
    "L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So "  # noqa: SIM905
    "Z Zl Zp Zs Cc Cf Co Cs".split()
)
_OTHER = ("Cc", "Cf", "Co", "Cs")
_NOT_OTHER = ("Cn", "L", "M", "N", "P", "S", "Z")
_W = "[0-9A-Za-z_]"  # RE2's \b and \B are ASCII word boundaries, Python's Unicode ones
_ASSERTIONS = {
    "A": "(?:\\A)",
    "z": "(?:\\Z)",  # Python's \Z is RE2's \z: the very end
    "b": f"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))",
    "B": f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))",
}
_FLAGS = {"i": "fold", "m": "multiline", "s": "dot_nl", "U": "ungreedy"}
_C_ESCAPES = {"a": 7, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
# What Python (or PCRE) writes after `(?` that RE2 does not have, by what it is.
_PERL_ONLY = (
    ("?<=", "lookbehind"),
    ("?<!", "negative lookbehind"),
    ("?=", "lookahead"),
    ("?!", "negative lookahead"),
    ("?>", "an atomic group"),
    ("?(", "a conditional"),
    ("?#", "a comment group"),
    ("?P=", "a backreference"),
    ("?P>", "a subroutine call"),
    ("?R", "recursion"),
    ("?|", "a branch reset"),
)
_INSTEAD = {
    "lookbehind": "match the text before too, in a group, and put it back with $1",
    "negative lookbehind": "match the text before too, in a group, and put it back with $1",
    "lookahead": "match the text after too, in a group, and put it back with $1",
    "negative lookahead": "list what may follow in a class, e.g. [^x]",
    "a backreference": "RE2 cannot say 'the same text again': compare the groups afterwards",
}


class BadPattern(Exception):
    """A pattern RE2 refuses: `reason` says what and at which character, `hint` that
    Terraform refuses it too and what to write instead."""

    def __init__(self, reason: str, hint: str = REFUSED_HINT) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


@record(frozen=True)
class Translated:
    """A pattern for `regex`, and the groups RE2 names: every group is numbered there,
    and one name may name several (Go's Expand takes the first that took part)."""

    pattern: str
    names: dict[str, tuple[int, ...]]


@record
class _Flags:
    fold: bool = False  # i
    multiline: bool = False  # m: ^ and $ at lines (RE2's default: the text's ends)
    dot_nl: bool = False  # s
    ungreedy: bool = False  # U: x* is lazy and x*? greedy

    def copy(self) -> _Flags:
        return _Flags(self.fold, self.multiline, self.dot_nl, self.ungreedy)


@record
class _Atom:
    text: str  # in `regex` syntax, one unit a quantifier may follow
    weight: int = 1  # the product of the {n,m} counts inside it (Go's repeatIsValid)
    repeated: bool = False  # it ends with a quantifier: a group around it to repeat it


@record
class _Group:
    flags: _Flags  # the flags outside it, back in force after its `)`
    opening: str  # `(` or `(?:` (flags are written on each piece inside)
    start: int  # character of the pattern where it opens
    alternatives: list[list[_Atom]]


def translate(pattern: str) -> Translated:
    return _Translator(pattern).run()


class _Translator:
    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.flags = _Flags()
        self.groups: list[_Group] = [_Group(_Flags(), "", 0, [[]])]
        self.count = 0  # capturing groups so far
        self.names: dict[str, list[int]] = {}
        self.last_repeat = False  # the last piece was `*`, `{2}`...: one more is an error

    def fail(self, what: str, at: int, hint: str = REFUSED_HINT) -> BadPattern:
        return BadPattern(f"{what} (character {at + 1} of the pattern)", hint)

    def run(self) -> Translated:
        src = self.src
        while self.pos < len(src):
            c, at = src[self.pos], self.pos
            if c == "(":
                self.open_group()
            elif c == "|":
                self.groups[-1].alternatives.append([])
                self.pos += 1
            elif c == ")":
                self.close_group()
            elif c in "*+?":
                self.pos += 1
                low, high = {"*": (0, -1), "+": (1, -1), "?": (0, 1)}[c]
                self.repeat(c, low, high, at)
                continue
            elif c == "{" and self.repeat_braces():
                continue
            elif c == "[":
                self.push(self.char_class())
            elif c == "\\":
                self.escape()
            elif c == "^":
                self.push(_Atom("(?m:^)" if self.flags.multiline else "(?:\\A)"))
                self.pos += 1
            elif c == "$":  # Python's $ also matches before a final "\n"; \Z does not
                self.push(_Atom("(?m:$)" if self.flags.multiline else "(?:\\Z)"))
                self.pos += 1
            elif c == ".":
                self.push(_Atom("(?s:.)" if self.flags.dot_nl else "[^\\n]"))
                self.pos += 1
            else:
                self.literal(ord(c))
                self.pos += 1
            self.last_repeat = False
        if len(self.groups) > 1:
            raise self.fail("has a `(` that is never closed", self.groups[-1].start)
        top = self.groups[0]
        names = {name: tuple(numbers) for name, numbers in self.names.items()}
        return Translated("|".join(_join(alt) for alt in top.alternatives), names)

    # -- atoms ---------------------------------------------------------------------

    def push(self, atom: _Atom) -> None:
        self.groups[-1].alternatives[-1].append(atom)

    def literal(self, code: int) -> None:
        text = _char(code)
        self.push(_Atom(f"(?i:{text})" if self.flags.fold else text))

    def escape(self) -> None:
        src, at = self.src, self.pos
        if at + 1 >= len(src):
            raise self.fail("ends with a `\\` that escapes nothing", at)
        c = src[at + 1]
        if c in _ASSERTIONS:
            self.push(_Atom(_ASSERTIONS[c]))
            self.pos += 2
            return
        if c == "Q":  # literal text up to \E or the end
            end = src.find("\\E", at + 2)
            stop = len(src) if end < 0 else end
            for char in src[at + 2 : stop]:
                self.literal(ord(char))
            self.pos = len(src) if end < 0 else end + 2
            return
        if c == "C":
            raise self.fail("uses `\\C` (one byte), which Go's RE2 (Terraform's) refuses", at)
        items = self.class_escape(at)
        if items is not None:
            self.push(_Atom(self.class_text(items, negated=False)))
            return
        self.literal(self.char_escape())

    def class_escape(self, at: int) -> Optional[list[str]]:
        """\\d \\s \\w (and capitals) or \\pL \\p{Greek} (\\P, \\p{^..}) at `at`, as
        items of a class, the position moved past it; None for any other escape."""
        src = self.src
        c = src[at + 1] if at + 1 < len(src) else ""
        if c.lower() in PERL:
            self.pos = at + 2
            return self.group_items(PERL[c.lower()], negated=c.isupper())
        if c not in ("p", "P"):
            return None
        negated = c == "P"
        if src.startswith("{", at + 2):
            end = src.find("}", at + 3)
            if end < 0:
                raise self.fail(f"has a Unicode class `{src[at:]}` without its `}}`", at)
            name, self.pos = src[at + 3 : end], end + 1
        else:
            name, self.pos = src[at + 2 : at + 3], at + 3
        if name.startswith("^"):
            negated, name = not negated, name[1:]
        return _unicode_items(
            name,
            negated,
            lambda: self.fail(
                f"names an unknown Unicode class `{src[at : self.pos]}`",
                at,
                "RE2 knows \\p{Any}, the general categories (L, Lu, Nd, ...) and the scripts "
                "(Greek, Latin, Han, ...), spelled as Unicode does",
            ),
        )

    def char_escape(self) -> int:
        """The one character a `\\` escape at the position stands for (Go's
        parseEscape), the position moved past it."""
        src, at = self.src, self.pos
        if at + 1 >= len(src):
            raise self.fail("ends with a `\\` that escapes nothing", at)
        c = src[at + 1]
        self.pos = at + 2
        if c.isascii() and not c.isalnum():
            return ord(c)  # \. \* \\ \_ ...
        if c in _C_ESCAPES:
            return _C_ESCAPES[c]
        if c in "01234567":
            digits = c
            if c != "0" and not (self.pos < len(src) and src[self.pos] in "01234567"):
                raise self.fail(
                    f"uses a backreference `\\{c}`, which RE2 does not have",
                    at,
                    f"{REFUSED_HINT}; {_INSTEAD['a backreference']}",
                )
            while len(digits) < 3 and self.pos < len(src) and src[self.pos] in "01234567":
                digits += src[self.pos]
                self.pos += 1
            return int(digits, 8)
        if c == "x":
            return self.hex_escape(at)
        what = {
            "Z": "`\\Z`: write \\z for the end of the text",
            "b": "`\\b` in a class: write \\x08 for a backspace",
            "8": "a backreference `\\8`, which RE2 does not have",
            "9": "a backreference `\\9`, which RE2 does not have",
            "g": "a backreference `\\g`, which RE2 does not have",
            "k": "a backreference `\\k`, which RE2 does not have",
        }.get(c, f"`\\{c}`, an escape RE2 does not have")
        raise self.fail(f"uses {what}", at)

    def hex_escape(self, at: int) -> int:
        src = self.src
        if src.startswith("{", self.pos):
            end = src.find("}", self.pos)
            digits = src[self.pos + 1 : end] if end > 0 else ""
            if digits and all(d in "0123456789abcdefABCDEF" for d in digits):
                code = int(digits, 16)
                if code <= MAX_RUNE:
                    self.pos = end + 1
                    return code
        else:
            digits = src[self.pos : self.pos + 2]
            if len(digits) == 2 and all(d in "0123456789abcdefABCDEF" for d in digits):
                self.pos += 2
                return int(digits, 16)
        raise self.fail("has an `\\x` escape RE2 cannot read (write \\x41 or \\x{10FFFF})", at)

    # -- classes -------------------------------------------------------------------

    def group_items(self, ranges: Ranges, negated: bool) -> list[str]:
        """A class's items for an ASCII group (\\d, [:alpha:]), negated or not: the
        complement of its case variants too when (?i) is on, as Go's appendGroup."""
        if negated:
            return _range_items(_complement(_folded(ranges) if self.flags.fold else ranges))
        return _range_items(ranges)

    def class_text(self, items: list[str], negated: bool) -> str:
        text = _items_text(items, negated)
        return f"(?i:{text})" if self.flags.fold else text

    def char_class(self) -> _Atom:
        """A class `[...]` from the position (Go's parseClass), as explicit items."""
        src, start = self.src, self.pos
        self.pos += 1
        negated = src.startswith("^", self.pos)
        self.pos += negated
        items: list[str] = []
        first = True
        while first or not src.startswith("]", self.pos):
            if self.pos >= len(src):
                raise self.fail("has a `[` that is never closed", start)
            first = False
            at = self.pos
            if src.startswith("[:", at):
                end = src.find(":]", at + 2)
                if end >= 0:
                    name = src[at + 2 : end]
                    group = POSIX.get(name.removeprefix("^"))
                    if group is None:
                        raise self.fail(
                            f"names an unknown class `[:{name}:]`",
                            at,
                            "RE2 knows [:alnum:], [:alpha:], [:ascii:], [:blank:], "
                            "[:cntrl:], [:digit:], [:graph:], [:lower:], [:print:], "
                            "[:punct:], [:space:], [:upper:], [:word:], [:xdigit:]",
                        )
                    items += self.group_items(group, name.startswith("^"))
                    self.pos = end + 2
                    continue
            if src.startswith("\\", at):
                escaped = self.class_escape(at)
                if escaped is not None:
                    items += escaped
                    continue
            low = self.class_char()
            high = low
            if src.startswith("-", self.pos) and not src.startswith("-]", self.pos):
                if self.pos + 1 >= len(src):
                    raise self.fail("has a `[` that is never closed", start)
                self.pos += 1
                high = self.class_char()
                if high < low:
                    raise self.fail(f"has a range `{src[at : self.pos]}` that runs backwards", at)
            items.append(_char(low) if low == high else f"{_char(low)}-{_char(high)}")
        self.pos += 1
        return _Atom(self.class_text(items, negated))

    def class_char(self) -> int:
        if self.src.startswith("\\", self.pos):
            return self.char_escape()
        self.pos += 1
        return ord(self.src[self.pos - 1])

    # -- groups --------------------------------------------------------------------

    def open_group(self) -> None:
        src, at = self.src, self.pos
        if len(self.groups) > MAX_REGEX_NESTING:
            raise self.fail(
                f"nests groups more than {MAX_REGEX_NESTING} deep",
                at,
                "dstream's limit (docs/security.md); a pattern needs far fewer",
            )
        if not src.startswith("(?", at):
            self.capture(at, at + 1, None)
            return
        name_start = 4 if src.startswith("(?P<", at) else 3 if src.startswith("(?<", at) else 0
        if name_start and not src.startswith(("(?<=", "(?<!"), at):
            end = src.find(">", at)
            name = src[at + name_start : end] if end > 0 else ""
            if end < 0 or not name or not all(c == "_" or _ascii_alnum(c) for c in name):
                opening = src[at : end + 1 if end > 0 else len(src)]
                raise self.fail(
                    f"has a group name RE2 cannot read `{opening}`",
                    at,
                    "write (?P<name>...) with letters, digits and _ (ASCII)",
                )
            self.capture(at, end + 1, name)
            return
        for prefix, what in _PERL_ONLY:
            if src.startswith(prefix, at + 1):
                hint = f"{REFUSED_HINT}; {_INSTEAD[what]}" if what in _INSTEAD else REFUSED_HINT
                raise self.fail(f"uses {what} `({prefix}`, which RE2 does not have", at, hint)
        self.flag_group(at)

    def capture(self, at: int, end: int, name: Optional[str]) -> None:
        self.count += 1
        if name is not None:
            self.names.setdefault(name, []).append(self.count)
        self.groups.append(_Group(self.flags.copy(), "(", at, [[]]))
        self.pos = end

    def flag_group(self, at: int) -> None:
        """`(?flags)` or `(?flags:` (Go's parsePerlFlags): i m s U, `-` to clear."""
        src = self.src
        flags, sign, saw = self.flags.copy(), True, False
        i = at + 2
        while i < len(src):
            c = src[i]
            if c in "imsU":
                setattr(flags, _FLAGS[c], sign)
                saw = True
            elif c == "-" and sign:
                sign, saw = False, False
            elif c in ":)" and (sign or saw):
                if c == ":":
                    self.groups.append(_Group(self.flags, "(?:", at, [[]]))
                self.flags = flags
                self.pos = i + 1
                return
            else:
                break
            i += 1
        raise self.fail(
            f"has a group `{src[at : i + 1]}` RE2 cannot read",
            at,
            f"{REFUSED_HINT}: its flags are i, m, s and U, as in (?i) or (?s:.)",
        )

    def close_group(self) -> None:
        if len(self.groups) == 1:
            raise self.fail("has a `)` that closes no group", self.pos)
        group = self.groups.pop()
        self.flags = group.flags
        atoms = [atom for alt in group.alternatives for atom in alt]
        weight = max((atom.weight for atom in atoms), default=1)
        text = "|".join(_join(alt) for alt in group.alternatives)
        self.push(_Atom(f"{group.opening}{text})", weight))
        self.pos += 1

    # -- repetition ----------------------------------------------------------------

    def repeat_braces(self) -> bool:
        """`{n}`, `{n,}` or `{n,m}` at the position applied; False when the `{` starts
        none (Go reads it as the character then, as `a{,3}`)."""
        src, at = self.src, self.pos
        end = src.find("}", at)
        if end < 0:
            return False
        low_text, comma, high_text = src[at + 1 : end].partition(",")
        if not _count(low_text) or (high_text and not _count(high_text)):
            return False
        low = _count_value(low_text)
        high = _count_value(high_text) if high_text else -1 if comma else low
        if low > MAX_REPEAT or high > MAX_REPEAT or (high >= 0 and low > high):
            raise self.fail(
                f"repeats `{src[at : end + 1]}` times, beyond RE2's 1000 or backwards", at
            )
        self.pos = end + 1
        self.repeat(src[at : end + 1], low, high, at)
        return True

    def repeat(self, operator: str, low: int, high: int, at: int) -> None:
        src = self.src
        lazy = self.flags.ungreedy
        if src.startswith("?", self.pos):
            lazy = not lazy
            self.pos += 1
            operator += "?"
        atoms = self.groups[-1].alternatives[-1]
        if not atoms:
            raise self.fail(f"repeats nothing with `{operator}`", at)
        if self.last_repeat:
            raise self.fail(
                f"repeats a repetition (`{operator}` right after another)",
                at,
                f"{REFUSED_HINT}; RE2 has no possessive a++, and a repetition of a "
                "repetition is written with a group: (?:a+)+",
            )
        sub = atoms[-1]
        weight = sub.weight
        if operator.startswith("{"):
            weight = _repeat_weight(sub.weight, low, high)
            if (low >= 2 or high >= 2) and weight > MAX_REPEAT:
                raise self.fail(
                    f"repeats `{operator}` inside other counted repetitions, "
                    "beyond RE2's 1000 in all",
                    at,
                )
        quantifier = {(0, -1): "*", (1, -1): "+", (0, 1): "?"}.get((low, high))
        if quantifier is None or operator.startswith("{"):
            quantifier = f"{{{low}}}" if low == high else f"{{{low},{'' if high < 0 else high}}}"
        body = f"(?:{sub.text})" if sub.repeated else sub.text
        atoms[-1] = _Atom(body + quantifier + ("?" if lazy else ""), weight, repeated=True)
        self.last_repeat = True


def _count(text: str) -> bool:
    """Whether `text` is a count Go's parseRepeat takes: digits, no leading zero."""
    return text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))


def _count_value(text: str) -> int:
    """A count's value; any beyond 8 digits is too large alike (Go stops at 1e8)."""
    return int(text) if len(text) <= 8 else MAX_REPEAT + 1


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _repeat_weight(inner: int, low: int, high: int) -> int:
    """The weight of `{low,high}` around an atom of weight `inner`, as Go's
    repeatIsValid counts: its max (its min when unbounded) times what is inside; one
    that may repeat 0 times at most hides what is inside."""
    if high == 0:
        return 1
    count = high if high > 0 else low
    return inner * count if count else inner


def _join(atoms: list[_Atom]) -> str:
    return "".join(atom.text for atom in atoms)


def _char(code: int) -> str:
    """A character in `regex` syntax, whatever it is: letters and digits as they are,
    anything else escaped by its code."""
    c = chr(code)
    if c.isascii() and (c.isalnum() or c == "_"):
        return c
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _range_items(ranges: Ranges) -> list[str]:
    return [_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges]


def _items_text(items: list[str], negated: bool) -> str:
    if not items:  # [^\x00-\x{10FFFF}] matches nothing, its negation anything
        return "(?s:.)" if negated else "(?:(?!))"
    return f"[{'^' if negated else ''}{''.join(items)}]"


def _folded(ranges: Ranges) -> Ranges:
    """An ASCII group with its case variants (Go's appendFoldedClass): the other case of
    each letter, and the two non-ASCII letters that fold to one (U+017F to s, U+212A to k)."""
    codes = {code for lo, hi in ranges for code in range(lo, hi + 1)}
    for code in list(codes):
        c = chr(code)
        if c.isalpha():
            codes.add(ord(c.swapcase()))
    codes |= {0x17F} if ord("s") in codes else set()
    codes |= {0x212A} if ord("k") in codes else set()
    return tuple((code, code) for code in sorted(codes))


def _complement(ranges: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    next_low = 0
    for lo, hi in sorted(ranges):
        if lo > next_low:
            out.append((next_low, lo - 1))
        next_low = max(next_low, hi + 1)
    if next_low <= MAX_RUNE:
        out.append((next_low, MAX_RUNE))
    return tuple(out)


def _unicode_items(name: str, negated: bool, unknown: Callable[[], BadPattern]) -> list[str]:
    """The items of a class for \\p{name}: Go's tables are \\p{Any}, CATEGORIES and the
    scripts, which `regex` has as Script=..."""
    if name == "Any":
        return [] if negated else [f"{_char(0)}-{_char(MAX_RUNE)}"]
    if name == "C":  # Go's, without the unassigned code points
        return [f"\\p{{{n}}}" for n in (_NOT_OTHER if negated else _OTHER)]
    sign = "P" if negated else "p"
    if name in CATEGORIES:
        return [f"\\{sign}{{{name}}}"]
    if _script_name(name):
        import regex  # the engine that runs the pattern: its Unicode tables say

        try:
            regex.compile(f"\\p{{Script={name}}}")
        except regex.error:
            raise unknown() from None
        return [f"\\{sign}{{Script={name}}}"]
    raise unknown()


def _script_name(name: str) -> bool:
    """Whether `name` is spelled as Go's unicode.Scripts spell theirs (Old_Italic,
    SignWriting): `regex` also takes greek, GREEK and Old Italic, which Go refuses."""
    words = name.split("_")
    return all(
        w[:1].isupper() and w.isascii() and w.isalpha() and (w[1:].islower() or w == "SignWriting")
        for w in words
    )
