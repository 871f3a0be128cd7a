"""replace()'s `/regex/` is RE2, as Terraform's (Go's regexp): the RE2 a Terraform user
writes means what it means there, and what RE2 refuses is refused at the call's
file:line:col. Through `dstream show` and `dstream lint`, as a user runs them.

Every expected value below is Terraform 1.11.4's: `terraform console` evaluated
`replace(text, "/pattern/", replacement)` for each row (and refused each refused one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config.evaluated import evaluated
from tests.workspace import dstream, json_document

# (text, RE2 pattern, replacement, Terraform's result)
VALUES = [
    # $ without (?m) is the end of the text only; Python's also matched before a final \n
    ("a\n", "a$", "X", "a\n"),
    ("a\n", "a\\z", "X", "a\n"),
    ("a\nb\n", "$", "X", "a\nb\nX"),
    ("a\nb\n", "(?m)$", "X", "aX\nbX\nX"),
    ("a\nb", "(?m)a$", "X", "X\nb"),
    ("ab\n", "^", "X", "Xab\n"),
    ("a\nb\n", "(?m)^", "X", "Xa\nXb\nX"),
    # ASCII classes; \d \w \s \b are ASCII in RE2 (Python's: any Unicode digit, letter)
    ("Ab1-", "[[:alpha:]]", "X", "XX1-"),
    ("Ab1-", "[[:^alpha:]]", "X", "AbXX"),
    ("a b", "[[:space:][:digit:]]", "X", "aXb"),
    ("a1_\u0663", "\\d", "X", "aX_\u0663"),  # U+0663: an Arabic-Indic digit
    ("a1_\u0663\u00e9", "\\w", "X", "XXX\u0663\u00e9"),
    ("\u0663x", "\\D", "X", "XX"),
    ("a b\vc", "\\s", "X", "aXb\vc"),  # RE2's \s has no \v
    ("a\vb", "[[:space:]]", "X", "aXb"),  # [[:space:]] has
    ("\u00e9", "\\b\u00e9\\b", "X", "\u00e9"),  # no word boundary around a non-ASCII é
    ("\u00e9", "\\B", "|", "|\u00e9|"),
    ("ab", "\\b", "|", "|ab|"),
    # Unicode classes
    ("h\u00e9llo1", "\\pL+", "X", "X1"),
    ("h\u00e9llo1", "\\PL", "X", "h\u00e9lloX"),
    ("\u03b1\u03b2c", "\\p{Greek}+", "X", "Xc"),
    ("x\u03b1", "\\p{^Greek}", "X", "X\u03b1"),
    ("x\u03b1", "[\\P{Greek}]", "X", "X\u03b1"),
    ("\u0378x", "\\pC", "X", "\u0378x"),  # Go's C has no unassigned code point (U+0378)
    ("x\u03b1A", "(?i)\\p{Lu}", "X", "XXX"),
    ("a1", "\\pN", "X", "aX"),
    ("x\U0001f600", "\\x{1F600}", "X", "xX"),
    # flags: (?U) swaps greediness (Python's (?U) is its UNICODE flag); (?i) (?s) (?m)
    # hold to the end of their group, across `|`
    ("aaa", "(?U)a+", "X", "XXX"),
    ("aaa", "(?U)a+?", "X", "X"),
    ("abbb", "(?U)ab{1,3}", "X", "Xbb"),
    ("aBAb", "(a(?i)b)a", "X", "aBAb"),
    ("aB|C", "a(?i)b|c", "X", "X|X"),
    ("AaAA", "(?i)a(?-i:a)", "X", "XAA"),
    ("a\nb", "a.b", "X", "a\nb"),
    ("a\nb", "(?s)a.b", "X", "X"),
    ("\u017f", "(?i)S", "X", "X"),  # U+017F (long s) folds to s in Go
    # \Q...\E is literal text, to \E or the end
    ("xa.bxab", "\\Qa.b\\E", "X", "xXxab"),
    ("xa.b", "\\Qa.b", "X", "xX"),
    ("xAB", "(?i)\\Qab\\E", "X", "xX"),
    # a `{` that starts no repetition (a{,3}, a{01}) is the character
    ("a{,3}", "a{,3}", "X", "X"),
    ("aaa", "a{,3}", "X", "aaa"),
    ("a{01}", "a{01}", "X", "X"),
    # octal escapes, which Python reads as backreferences
    ("a\nb", "\\12", "X", "aXb"),
    ("a\x00b", "\\000", "X", "aXb"),
    # named groups: Go's (?<name>) too, names of digits, one name twice ($a: the first
    # that took part, as Go's Expand)
    ("ab", "(?<n>a)", "[$n]", "[a]b"),
    ("ab", "(?P<1>a)", "[$1]", "[a]b"),
    ("ab", "(?P<a>x)|(?P<a>a)", "[$a]", "[a]b"),
    ("ab", "(a)", "[$01]", "[]b"),  # $01 names the group "01": none
    # matches found as Go's ReplaceAllString finds them: one character on after an empty
    # match (Python's tried a longer one at the same place)
    ("aaa", "a*?", "X", "XaXaXaX"),
    ("aa", "|a", "X", "XaXaX"),
    ("baaac", "a*", "X", "XbXcX"),
    ("abc", "x*", "-", "-a-b-c-"),
]

# (pattern RE2 refuses, what the error names, what its hint says); Terraform refuses
# each too, naming the same construct
REFUSED_HINT = "Terraform would refuse this pattern too"
REFUSED = [
    ("a(?=b)", "lookahead `(?=`", REFUSED_HINT),
    ("a(?!b)", "negative lookahead `(?!`", REFUSED_HINT),
    ("(?<=a)b", "lookbehind `(?<=`", REFUSED_HINT),
    ("(?<!a)b", "negative lookbehind `(?<!`", REFUSED_HINT),
    ("(a)\\1", "backreference `\\1`", REFUSED_HINT),
    ("(?P<x>a)(?P=x)", "backreference `(?P=`", REFUSED_HINT),
    ("a++", "repetition (`+` right after another)", "no possessive"),
    ("a**", "repetition (`*` right after another)", REFUSED_HINT),
    ("a{2}{3}", "repetition (`{3}` right after another)", REFUSED_HINT),
    ("(?>a)", "atomic group `(?>`", REFUSED_HINT),
    ("(?(1)a|b)", "conditional `(?(`", REFUSED_HINT),
    ("(?#note)a", "comment group `(?#`", REFUSED_HINT),
    ("a\\Z", "`\\Z`", REFUSED_HINT),
    ("\\C", "`\\C`", REFUSED_HINT),
    ("\\G", "`\\G`", REFUSED_HINT),
    ("[\\b]", "`\\b` in a class", REFUSED_HINT),
    ("(?x)a b", "`(?x`", "flags are i, m, s and U"),
    ("a{1001}", "`{1001}`", REFUSED_HINT),
    ("(a{100}){100}", "inside other counted repetitions", REFUSED_HINT),
    ("*a", "nothing with `*`", REFUSED_HINT),
    ("[[:foo:]]", "unknown class `[:foo:]`", "[:alnum:]"),
    ("\\p{greek}", "unknown Unicode class `\\p{greek}`", "scripts"),
    ("\\p{Cn}", "unknown Unicode class `\\p{Cn}`", "general categories"),
    ("(?P<a-b>x)", "group name RE2 cannot read `(?P<a-b>`", "letters, digits"),
    ("[b-a]", "range `b-a` that runs backwards", REFUSED_HINT),
    ("(ab", "`(` that is never closed", REFUSED_HINT),
    ("[ab", "`[` that is never closed", REFUSED_HINT),
    # dstream's limit, not RE2's (Go's is 1000; the `regex` engine's stack ends before 200)
    ("(" * 33 + ")" * 33, "groups more than 32 deep", "dstream's limit"),
]


def hcl(text: str) -> str:
    """`text` as an HCL string literal: every character byte for byte, none of it a
    template."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out).replace("${", "$${").replace("%{", "%%{") + '"'


def call(text: str, pattern: str, replacement: str) -> str:
    return f"replace({hcl(text)}, {hcl('/' + pattern + '/')}, {hcl(replacement)})"


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every row of VALUES evaluated by one `dstream show` (tests/config/evaluated.py)."""
    return evaluated(tmp_path_factory.mktemp("re2"), [call(*row[:3]) for row in VALUES])


@pytest.mark.parametrize(("index", "row"), list(enumerate(VALUES)), ids=[r[1] for r in VALUES])
def test_replace_reads_re2_as_terraform(shown: dict[str, Any], index: int, row: Any) -> None:
    assert shown[f"c{index}"] == row[3]


def test_what_re2_refuses_is_refused_at_the_call(tmp_path: Path) -> None:
    lines = [f"  r{i} = {call('ab', pattern, 'X')}" for i, (pattern, _, _) in enumerate(REFUSED)]
    config = tmp_path / "dstream.hcl"
    config.write_text("locals {\n" + "\n".join(lines) + "\n}\n")
    done = dstream("lint", "--json", "-c", str(config), without="DSTREAM_")
    assert done.returncode == 2, done.stderr
    errors = {d["line"]: d for d in json_document(done)["diagnostics"] if d["severity"] == "error"}
    for i, (pattern, what, hint) in enumerate(REFUSED):
        error = errors.get(i + 2)  # line 1 is `locals {`
        assert error is not None, f"/{pattern}/ was not refused"
        assert error["column"] == len(f"  r{i} = ") + 1, error  # the call's
        assert f"replace() pattern /{pattern}/ " in error["message"], error
        assert what in error["message"] and hint in error["hint"], error
