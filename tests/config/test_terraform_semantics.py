"""Expressions whose result differed from Terraform's (a review's findings, each
reproduced here first): the value a Terraform user expects, or a config error at
file:line:col where Terraform has one, never an internal error."""

from __future__ import annotations

from typing import Any

import pytest

from dstream.config.loader import load_project_text
from dstream.errors import ConfigError

LOCALS = 'objs = [{ a = [1, 2] }, { a = [3, 4] }]\n  words = ["b", "a", "b"]'


def value(expression: str, variables: str = "") -> Any:
    """`expression` evaluated as a provider's config value (no schema: /bin/cat)."""
    text = (
        f"{variables}\nlocals {{\n  {LOCALS}\n}}\n"
        'task "t" {\n  input {\n    provider_path = "/bin/cat"\n'
        f"    config = {{ v = {expression} }}\n  }}\n"
        '  output { provider_path = "/bin/cat" }\n}\n'
    )
    return load_project_text(text, "t.hcl", environ={}).tasks["t"].input.config["v"]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # Go's Regexp.Expand: $n and ${n}, names, $$; a group that does not exist or did
        # not take part is empty; backslashes are text.
        ('replace("a-b", "/(-)/", "$2")', "ab"),
        ('replace("a-b", "/(-)/", "[$1]")', "a[-]b"),
        ('replace("a-b", "/(-)/", "[$${1}]")', "a[-]b"),
        ('replace("a-b", "/(-)/", "$$1")', "a$1b"),
        ('replace("a-b", "/(-)/", "\\\\1\\\\g<1>\\\\n")', "a\\1\\g<1>\\nb"),
        ('replace("a-b", "/(-)/", "\\\\g<zz>")', "a\\g<zz>b"),
        ('replace("a-b", "/(?P<d>-)/", "<$d>")', "a<->b"),
        ('replace("a-b", "/(-)/", "$1x")', "ab"),  # the group named "1x": none
        ('replace("a-b", "/(-)/", "$")', "a$b"),
        ('replace("a-b", "/(-)|(z)/", "[$2]")', "a[]b"),
        ('try(replace("a-b", "/(-)/", "$9"), "fallback")', "ab"),
        # an empty match right after a match is none, as Go's ReplaceAllString
        ('replace("aaa", "/a*/", "X")', "X"),
        ('replace("path///", "/[/]*$/", "/")', "path/"),
        ('replace("abc", "/x*/", "-")', "-a-b-c-"),
    ],
)
def test_replace_expands_as_terraform(expression: str, expected: str) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # The attribute-only splat ends at the first index: [for v in objs : v.a][0].
        ("local.objs.*.a[0]", [1, 2]),
        ("local.objs[*].a[0]", [1, 3]),
        ("local.objs.*.a", [[1, 2], [3, 4]]),
        ("local.objs.*.a[1][0]", 3),
    ],
)
def test_splats(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("contains([1, 2], true)", False),
        ("contains([0, 2], false)", False),
        ('contains(["1"], 1)', False),
        ("contains([1, 2], 2)", True),
        ("contains([[1], [true]], [true])", True),
        ("[1] == [true]", False),
        ("{ a = 1 } == { a = true }", False),
        ("[1, [2]] == [1, [2]]", True),
        ("[for x in [1, true, 0, false] : x if contains([1, 0], x)]", [1, 0]),
    ],
)
def test_a_bool_is_not_a_number_inside_collections(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1.5 * 20000000000000000", 30000000000000000),
        ('format("%d", 1.5 * 20000000000000000)', "30000000000000000"),
        ("1e19 * 1.5", 1.5e19),  # beyond int64: a double
    ],
)
def test_whole_results_up_to_int64_are_integers(expression: str, expected: Any) -> None:
    result = value(expression)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('"x${1e20}"', "x100000000000000000000"),
        ("tostring(0.000001)", "0.000001"),
        ('"x${2.5e-7}"', "x0.00000025"),
        ("tostring(1.5)", "1.5"),
        ("tostring(-1e300 / 1e280)", "-100000000000000000000"),
    ],
)
def test_numbers_become_text_as_decimals(expression: str, expected: str) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('upper("straße")', "STRAßE"),  # Go keeps ß: no one-letter capital
        ('length("🇺🇸")', 1),  # a grapheme cluster, as Terraform counts
        ('length("e\u0301")', 1),
        ('length("abc")', 3),
    ],
)
def test_string_functions_as_terraform(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ('variable "s" {\n  type = set(number)\n  default = [3, 1, 2, 1]\n}', [1, 2, 3]),
        (
            'variable "s" {\n  type = set(string)\n  default = ["b", "a", "b", 1]\n}',
            ["1", "a", "b"],
        ),
        ('variable "s" {\n  type = set(bool)\n  default = [true, false]\n}', [False, True]),
        ('variable "s" {\n  type = set(any)\n  default = ["b", "a"]\n}', ["a", "b"]),
        ('variable "s" {\n  type = set\n  default = ["b", 1, "a"]\n}', ["1", "a", "b"]),
    ],
)
def test_sets_of_primitives_are_ordered(variables: str, expected: Any) -> None:
    assert value("var.s", variables) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('tonumber(" 5 ")', "is not a number"),
        ("local.objs[1.5]", "index 1.5 is not a whole number"),
    ],
)
def test_errors_as_terraform(expression: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        value(expression)
    assert message in str(caught.value)
    assert "t.hcl:" in str(caught.value)


@pytest.mark.parametrize("name", ["1bad", "bad name", "", "a.b", "x²"])
def test_a_variable_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        value("1", f'variable "{name}" {{ default = 1 }}')
    assert f'variable name "{name}" is not a valid name' in str(caught.value)
    assert "t.hcl:1:" in str(caught.value)


def test_a_variable_name_may_hold_dashes_and_letters_of_any_script() -> None:
    assert (
        value(
            "var.a-b + var.größe",
            'variable "a-b" { default = 1 }\nvariable "größe" { default = 2 }',
        )
        == 3
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('format("%.2s|%5.1s|%.3d", "hello", "world", 5)', "he|    w|005"),
        ('format("%08s", "ab")', "000000ab"),
        ('format("%-8s|", "ab")', "ab      |"),
        ('format("%[2]s %[1]s", "a", "b")', "b a"),
        ('format("%[2]s %s", "a", "b", "c")', "b c"),
        ('format("%q", "é")', '"é"'),
        ('format("%.3f", 18446744073709551617)', "18446744073709551617.000"),
        ('format("%+08.1f|%-6.0f|", 18446744073709551617, 7)', "+18446744073709551617.0|7     |"),
        ('format("100%%")', "100%"),
    ],
)
def test_format_as_terraform(expression: str, expected: str) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ('format("%5")', "starts no verb"),
        ('format("100%")', "starts no verb"),
        ('format("%[3]s", "a")', "refers to value 3"),
        ('format("%s", "a", "b")', "value 2 is not used"),
    ],
)
def test_format_errors(expression: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        value(expression)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "locals {\n  n = <<EOT\nabc\nEOF\n}\n",
        "locals {\n  n = <<-EOT\n  abc\n  EOT  \n}\n",
    ],
)
def test_a_heredoc_left_open_is_named_as_the_mistake(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl", environ={})
    assert str(caught.value).startswith("t.hcl:2:7: syntax error"), str(caught.value)
    assert "a heredoc is not closed: no later line holds only `EOT`" in (caught.value.hint or "")


def test_a_restart_that_resets_at_once_is_refused() -> None:
    """reset_after = 0 counted every attempt healthy: attempts = 1 restarted for ever."""
    text = (
        'task "t" {\n  input { provider_path = "/bin/cat" }\n'
        '  output { provider_path = "/bin/cat" }\n'
        '  restart {\n    attempts = 1\n    reset_after = "0s"\n  }\n}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl", environ={})
    assert 'reset_after in restart of task "t" must be more than 0' in str(caught.value)
    assert str(caught.value).startswith("t.hcl:6:19: ")
