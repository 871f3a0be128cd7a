"""config/quickparse.py builds python-hcl2's own parse tree without lark, for the texts
it knows. Differential: wherever it gives a tree, the tree is lark's to the token and
the position (config/tree.freeze compares rules, terminals, texts, lines and columns);
wherever lark refuses a text, it declines. Over every configuration in the repository,
over generated configurations of the shapes it reads (with the new lines, comments and
blanks lark places), and over the fuzz tests' random texts."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import zlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dstream.config import quickparse, syntax
from dstream.config.templates import rewrite_templates
from dstream.config.tree import freeze, from_lark
from tests.config.test_fuzz import TEXTS

if TYPE_CHECKING:
    from dstream.config.tree import Plain

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lark_tree(source: str) -> Optional[Plain]:
    from lark.exceptions import LarkError

    try:
        return freeze(from_lark(syntax.lark_parse(source), 10**6))
    except LarkError:
        return None


def verdict(source: str) -> str:
    """'quick' (the same tree as lark's), 'declined' or 'refused' (by both)."""
    expected = lark_tree(source)
    quick = quickparse.parse(source)
    if quick is None:
        return "declined" if expected is not None else "refused"
    assert expected is not None, f"lark refuses a text quickparse read:\n{source}"
    assert freeze(quick) == expected, f"trees differ for:\n{source}"
    return "quick"


def test_the_installed_grammar_is_the_one_it_mirrors() -> None:
    """Its trees are checked against this grammar: with another one config/syntax.py
    does not use it. A new python-hcl2 fails here: run this file against it, then
    update GRAMMAR_CRC."""
    path = syntax._grammar_path()
    assert path is not None
    with open(path, "rb") as handle:
        assert zlib.crc32(handle.read()) == quickparse.GRAMMAR_CRC
    assert syntax._quick_parse_applies()


def _repository_texts() -> list[tuple[str, str]]:
    """Every .hcl file and every ```hcl block of the docs, as parse_text hands them over
    (after the {{ env }} pre-pass, ending with a new line)."""
    found = []
    for path in sorted(glob.glob(os.path.join(ROOT, "**", "*.hcl"), recursive=True)):
        if os.sep + "target" + os.sep not in path:
            with open(path, encoding="utf-8", errors="replace") as handle:
                found.append((path, handle.read()))
    documents = glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)
    for path in sorted([*documents, os.path.join(ROOT, "README.md")]):
        with open(path, encoding="utf-8") as handle:
            found += [(path, m) for m in re.findall(r"```hcl\n(.*?)```", handle.read(), re.S)]
    texts = []
    for path, text in found:
        try:
            source = rewrite_templates(text, path).text
        except Exception:  # a text the pre-pass refuses never reaches a parser
            continue
        texts.append((path, source if source.endswith("\n") else source + "\n"))
    return texts


def test_every_configuration_in_the_repository() -> None:
    texts = _repository_texts()
    seen = Counter(verdict(source) for _, source in texts)
    # It must read nearly all of them, or it saves nobody the import of lark.
    assert seen["quick"] >= 0.85 * (seen["quick"] + seen["declined"]), seen
    assert seen["quick"] >= 50, seen


# -- generated configurations --------------------------------------------------------
BLANK = st.sampled_from(["", " ", "  ", "\t"])
NEW_LINES = st.sampled_from(["\n", "\n\n", "  # note\n", " // note\n", "\n  \n", "\n\t", "\n# a\n"])
NAMES = st.sampled_from(
    ["a", "b_c", "x-1", "task", "var", "local", "format", "e", "_", "config", "name", "input",
     "output", "upper", "true", "null", "in", "名前", "straße", "é1", "a\u0301", "नाम", "_ö-"]
)  # fmt: skip
NUMBERS = st.sampled_from(
    ["0", "7", "42", "1.5", "2e3", "1.5E-2", "007", "1e+9", "-1", "-42", "-2.5"]
)
CHARS = st.sampled_from(
    ["x", " ", "a b", "\n", "$", "%", "$x", "%d", '\\"', "\\n", "\\\\", "é", "{", "}", "$$", "%%"]
)
HEREDOCS = st.sampled_from(
    ["<<EOT\nselect 1\nEOT\n", "<<-SQL\n  select ${a}\n  SQL\n", "<<E\nE\n", "<<EOT\nx\n"]
)
QUESTION = st.sampled_from([" ? ", "?", " ?\n  ", "\n? "])
ELSE = st.sampled_from([" : ", ":", "\n  : ", " :\n  ", " \t: "])
OPERATORS = st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||"])


def _string(expressions: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    part = st.one_of(CHARS, expressions.map(lambda e: "${" + e + "}"))
    return st.lists(part, max_size=4).map(lambda parts: '"' + "".join(parts) + '"')


def _joined(items: list[str], separators: list[str]) -> str:
    return "".join(i + s for i, s in zip(items, separators))


@st.composite
def _collection(draw: st.DrawFn, expressions: st.SearchStrategy[str], kind: str) -> str:
    count = draw(st.integers(0, 3))
    items = []
    for _ in range(count):
        value = draw(expressions)
        if kind == "object":
            key = draw(st.one_of(NAMES, _string(NAMES)))
            value = key + draw(BLANK) + draw(st.sampled_from(["=", ":"])) + draw(BLANK) + value
        items.append(value)
    gaps = st.one_of(BLANK, NEW_LINES, st.just(","), st.just(",\n"), st.just("\n,"))
    separators = [draw(gaps) for _ in items]
    opening, closing = ("{", "}") if kind == "object" else ("[", "]")
    return opening + draw(st.one_of(BLANK, NEW_LINES)) + _joined(items, separators) + closing


@st.composite
def _call(draw: st.DrawFn, expressions: st.SearchStrategy[str]) -> str:
    arguments = draw(st.lists(expressions, max_size=3))
    commas = st.sampled_from([", ", ",\n  ", "\n, ", ",  # c\n"])
    joined = "".join(a + draw(commas) for a in arguments[:-1]) + "".join(arguments[-1:])
    tail = draw(st.sampled_from(["", ",", "...", "\n", ",\n", "...\n"])) if arguments else ""
    return draw(NAMES) + "(" + draw(st.sampled_from(["", "\n  "])) + joined + tail + ")"


@st.composite
def _traversed(draw: st.DrawFn, terms: st.SearchStrategy[str]) -> str:
    term = draw(terms)
    for step in draw(st.lists(st.sampled_from(["attr", "index"]), max_size=3)):
        term += "." + draw(NAMES) if step == "attr" else "[" + draw(NUMBERS | NAMES) + "]"
    return term


def _expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        terms = st.one_of(
            _collection(inner, "tuple"),
            _collection(inner, "object"),
            _call(inner),
            inner.map(lambda e: "(" + e + ")"),
            _string(inner),
        )
        return st.one_of(
            _traversed(terms),
            st.tuples(inner, BLANK, OPERATORS, BLANK, inner).map("".join),
            st.tuples(inner, QUESTION, inner, ELSE, inner).map("".join),
            st.tuples(st.sampled_from(["!", "-", "- "]), _traversed(terms)).map("".join),
        )

    leaves = st.one_of(NAMES, NUMBERS, _string(NAMES), _traversed(NAMES), HEREDOCS)
    return st.recursive(leaves, extend, max_leaves=8)


EXPRESSIONS = _expressions()


@st.composite
def _body(draw: st.DrawFn, depth: int = 0) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(NAMES)
        if depth < 2 and draw(st.booleans()):
            labels = draw(st.lists(st.one_of(NAMES, _string(NAMES)), max_size=2))
            inner = draw(_body(depth + 1))
            header = " ".join([name, *labels])
            lines.append(
                header + draw(BLANK) + "{" + draw(st.one_of(BLANK, NEW_LINES)) + inner + "}"
            )
        else:
            lines.append(name + draw(BLANK) + "=" + draw(BLANK) + draw(EXPRESSIONS))
    gaps = st.one_of(NEW_LINES, NEW_LINES, st.just(" "))  # ` `: `a = 1 b = 2` is one body too
    return _joined(lines, [draw(gaps) for _ in lines])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_body())
@example('task "t" {\n  x = a + b * c\n\n  y = [1, # one\n  2,\n  ]\n}\n')
@example('x = {\n  a = 1 + 2\n  "b": f(x, y...)\n}\n')
@example("x = a.b[0].c\n")
def test_generated_configurations(text: str) -> None:
    verdict(text + "\n")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
def test_random_texts(text: str) -> None:
    verdict(text + "\n")


@pytest.mark.parametrize(
    "text, expected",
    [
        ('x = "a${b}c"\n', "quick"),  # an interpolation
        ("x = <<EOT\nhi\nEOT\ny = 1\n", "quick"),  # a heredoc (it ends its line)
        ("x = <<-EOT\n  hi ${a}\n  EOT\n", "quick"),
        ("x = f(\n  a,\n  b + 1\n)\n", "quick"),  # a call over lines
        ("x = f(a...\n)\n", "quick"),
        ("x = f(a\n...)\n", "refused"),  # no new line before `...`
        ("x = <<EOT\nhi\n", "refused"),  # a heredoc that never ends
        ("x = a - b - 1\n", "quick"),
        ("x = -1.5 * -2\n", "quick"),  # `-1.5` is one literal, `-2` is MINUS and 2
        ("x = -42 - 4\n", "quick"),  # a sign joins two digits or more: `-42` is a literal
        ("x = [1 -1.5]\n", "refused"),  # ... even after an operand, where it is an error
        ("x = a -42\n", "refused"),
        ("x = a-1\n", "quick"),  # a name, as lark reads it
        ("x = a ? b : c\n", "quick"),  # a conditional
        ("x = a ? b + 1\n : c + 2\n\ny = 1\n", "quick"),  # new lines go into the operations
        ('x = "${a ?\n b : c ? d : e}"\n', "quick"),
        ("x = a\n? b : c\n", "declined"),  # the post-lexer joins that new line to `?`
        ('x = "%{ if a }b%{ endif }"\n', "declined"),  # a directive
        ("x = [for v in a: v]\n", "declined"),  # a for expression
        ("x = a.*.b\n", "declined"),  # a splat
        ("x = (\n  a\n)\n", "declined"),  # a new line in parentheses
        ("x = 1\r\ny = 2\r\n", "declined"),  # CRLF
        ("x = \n", "refused"),  # a syntax error: lark explains it
        ("名前 = 1\n", "quick"),  # HCL v2's names are Unicode identifiers
        ("x = a.straße-2\nnāme { é = 1 }\n", "quick"),
        ("x = 1é\n", "refused"),  # a number then a name: a syntax error
        ("€ = 1\n", "refused"),  # no identifier starts with €
        ("x = a.٣\n", "refused"),  # nor with a digit
    ],
)
def test_what_it_reads_and_what_it_leaves_to_lark(text: str, expected: str) -> None:
    assert verdict(text) == expected


CONFIG = """
# a task as most are written
locals {
  tables = ["orders", "customers"]
}
task "orders" {
  input {
    provider_path = "dstream-counter"
    config {
      interval  = 0
      max_count = 10 * 2
      name      = "orders-${local.tables[0]}"
    }
  }
  output {
    provider_path = "dstream-null"
    config = { tables = local.tables, upper = upper("x") }
  }
}
"""


def test_a_first_parse_does_not_import_lark(tmp_path: Path) -> None:
    """The point of it: a configuration never parsed before (an empty parse cache)
    loads without importing lark or python-hcl2, and its tree is cached."""
    code = (
        "import sys\n"
        "from dstream.config.loader import load_project_text\n"
        f"project = load_project_text({CONFIG!r}, 'dstream.hcl', environ={{}})\n"
        "assert project.tasks['orders'].input.config['max_count'] == 20\n"
        "assert 'lark' not in sys.modules and 'hcl2' not in sys.modules, 'lark imported'\n"
    )
    env = {**os.environ, "DSTREAM_CACHE_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path / "hcl"), "the tree was not cached"
