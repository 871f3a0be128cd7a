"""The one type several values are given, by HCL's rules (cty's convert.Unify, through
go-cty/cty/convert/unify.go): the elements of a `list(any)`, `set(any)` or `map(any)`
variable (Terraform converts the value with convert.Convert, whose conversionTupleToList
and conversionObjectToMap unify the elements' types, and conversionUnifyListElements
after converting each one) and the two results of a conditional (hclsyntax's
ConditionalExpr.Value calls convert.UnifyUnsafe). Each value is evaluated from a
dstream.hcl; each expected value cites the rule it follows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dstream.config.loader import load_project_text
from dstream.errors import ConfigError

TASK = """
task "t" {
  input {
    provider_path = "/bin/cat"
    config = { v = %s }
  }
  output { provider_path = "/bin/cat" }
}
"""


def variable(type_: str, default: str) -> Any:
    """The value of a variable of `type_` whose default is `default` (line 3)."""
    text = f'variable "v" {{\n  type = {type_}\n  default = {default}\n}}\n' + TASK % "var.v"
    return load_project_text(text, "v.hcl", environ={}).tasks["t"].input.config["v"]


def expression(text: str) -> Any:
    """`text` evaluated as a provider's config value, on line 5 at column 20."""
    project = load_project_text(TASK % text, "c.hcl", environ={})
    return project.tasks["t"].input.config["v"]


def same(got: Any, expected: Any) -> bool:
    """Equal, and of the same JSON types (1 is not "1", nor true)."""
    return json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


# -- list(any), set(any), map(any) -----------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "default", "expected"),
    [
        # unify: a string is the common type of a string and a number (number -> string)
        ("list(any)", '["a", 1]', ["a", "1"]),
        # unifyObjectTypes: the same attributes unify one by one
        ("list(any)", '[{ a = 1 }, { a = "x" }]', [{"a": "1"}, {"a": "x"}]),
        # unifyTupleTypes: tuples of one length unify element by element: list(list(string))
        ("list(any)", '[[1], ["a"]]', [["1"], ["a"]]),
        # unifyTupleTypesToList: tuples of different lengths unify as lists of one type
        ("list(any)", '[[1], ["a", "b"]]', [["1"], ["a", "b"]]),
        # unifyObjectTypesToMap: objects with different attributes unify as a map
        ("list(any)", '[{ a = 1 }, { b = "x" }]', [{"a": "1"}, {"b": "x"}]),
        # nested all the way down: list(object({ a = list(string) }))
        ("list(any)", '[{ a = [1] }, { a = ["x", true] }]', [{"a": ["1"]}, {"a": ["x", "true"]}]),
        # conversionObjectToMap unifies the attributes' types the same way
        ("map(any)", '{ a = [1], b = ["x"] }', {"a": ["1"], "b": ["x"]}),
        ("map(any)", '{ a = { x = 1 }, b = { x = "y" } }', {"a": {"x": "1"}, "b": {"x": "y"}}),
        # conversionTupleToSet likewise
        ("set(any)", '[[1], ["a"]]', [["1"], ["a"]]),
        # conversionUnifyListElements: elements converted to list(any) are then unified
        ("list(list(any))", '[[1], ["a"]]', [["1"], ["a"]]),
        # ... and so are objects with an attribute of type any
        ("list(object({ a = any }))", '[{ a = 1 }, { a = "x" }]', [{"a": "1"}, {"a": "x"}]),
        # values of one type stay as they are
        ("list(any)", "[{ a = 1, b = true }, { a = 2, b = false }]", None),
        ("list(any)", "[[1, true], [2, false]]", None),
    ],
)
def test_the_elements_of_a_collection_of_any_are_unified(
    type_: str, default: str, expected: Any
) -> None:
    got = variable(type_, default)
    if expected is None:  # unchanged: the default as written
        expected = variable("any", default)
    assert same(got, expected), got


@pytest.mark.parametrize(
    ("type_", "default", "problem"),
    [
        # unify: a number and a tuple have no common type
        ("list(any)", "[1, [2]]", "its value has elements of different types (list and number)"),
        # unifyObjectTypes: attribute a's number and bool have no common type (and no
        # map fallback when the attributes are the same)
        (
            "list(any)",
            "[{ a = 1 }, { a = true }]",
            "its value has elements of different types (bool and number at [*].a)",
        ),
        # unifyTupleTypes: element 0's number and bool have none either
        (
            "list(any)",
            "[[1], [true]]",
            "its value has elements of different types (bool and number at [*][0])",
        ),
        # unifyObjectTypesToMap: a map needs one type for all the attributes
        (
            "map(any)",
            "{ x = { a = 1 }, y = { b = true } }",
            "its value has elements of different types (bool and number at [*][*])",
        ),
        # conversionUnifyListElements, for a collection inside the type: [1] and [[2]]
        # are tuples of one length, whose element 0 does not unify
        (
            "list(list(any))",
            "[[1], [[2]]]",
            "its value has elements of different types (list and number at [*][0])",
        ),
    ],
)
def test_elements_without_a_common_type_are_refused_at_the_variable(
    type_: str, default: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        variable(type_, default)
    assert str(caught.value) == f'v.hcl:3:13: variable "v" has type {type_}, but {problem}'
    assert caught.value.hint and "same type" in caught.value.hint


def test_the_keys_of_a_sensitive_variable_are_not_shown() -> None:
    text = (
        'variable "v" {\n  type = map(any)\n  sensitive = true\n'
        "  default = { x = { key = 1 }, y = { key = true } }\n}\n"
    ) + TASK % "var.v"
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "v.hcl", environ={})
    assert "its value has elements of different types (bool and number at [*][...])" in str(
        caught.value
    )
    assert "key" not in str(caught.value)


# -- conditionals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # unify: number and string -> string, whichever branch is taken
        ('true ? 1 : "a"', "1"),
        ('false ? "x" : 2', "2"),
        ('true ? true : "a"', "true"),
        # unifyTupleTypes: tuple([number]) and tuple([string]) -> tuple([string])
        ('true ? [1] : ["a"]', ["1"]),
        # unifyTupleTypesToList: different lengths -> list(string)
        ('true ? [1] : ["a", "b"]', ["1"]),
        ("false ? [] : [1]", [1]),
        # unifyObjectTypes: the same attributes unify one by one
        ('true ? { a = 1 } : { a = "x" }', {"a": "1"}),
        ('true ? { a = 1, b = [1] } : { a = "x", b = ["y", "z"] }', {"a": "1", "b": ["1"]}),
        # unifyObjectTypesToMap: different attributes -> map(number); current cty (since
        # "convert: Allow unification of object/tuple to produce new type") is no error
        ("true ? { a = 1 } : { b = 2 }", {"a": 1}),
        ('true ? { a = 1 } : { b = "x" }', {"a": "1"}),
        ("false ? { a = 1 } : {}", {}),
        # a literal null takes the other result's type (ConditionalExpr.Value's first cases)
        ("true ? 1 : null", 1),
        ("false ? 1 : null", None),
        ('true ? null : "x"', None),
        # results of one type are kept as they are
        ("true ? [1, true] : [2, false]", [1, True]),
        # the result not taken that fails to evaluate has no known type: its error is
        # dropped and the taken result is kept (ConditionalExpr.Value keeps its diags only)
        ('true ? 1 : tonumber("x")', 1),
        ('length([]) > 0 ? [][0] : "none"', "none"),
        # nested conditionals unify from the inside out
        ('true ? (true ? 1 : "a") : 2', "1"),
    ],
)
def test_the_results_of_a_conditional_are_unified(text: str, expected: Any) -> None:
    got = expression(text)
    assert same(got, expected), got


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        # hclsyntax's own cases (expression_test.go, "Inconsistent conditional result types")
        ("true ? 1 : true", "(bool and number)"),
        ("true ? [1] : [true]", "(bool and number at [0])"),
        ("true ? [1] : [1, true]", "(bool and number at [*])"),
        ("true ? { a = 1 } : { a = true }", "(bool and number at .a)"),
        ("true ? { a = true, b = 1 } : { a = true }", "(bool and number at [*])"),
        # unify: an object and a tuple never unify, nor a number and a list
        ("false ? { a = 1 } : [1]", "(list and object)"),
        ('true ? "a" : ["a"]', "(list and string)"),
    ],
)
def test_results_without_a_common_type_are_an_error_at_the_conditional(
    text: str, detail: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        expression(text)
    assert str(caught.value) == (
        f"c.hcl:5:20: the two results of this conditional have no common type {detail}"
    )
    assert caught.value.hint and "same type" in caught.value.hint
