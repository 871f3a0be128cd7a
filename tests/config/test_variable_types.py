"""A variable's `type` is checked all the way down and its value converted, by
Terraform's rules (docs/configuration.md, "variables"): elements, attributes, tuples,
sets, optional attributes; every error at the part of the value it is about."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from dstream.config.loader import load_project_text
from dstream.errors import ConfigError
from tests.workspace import dstream

TASK = """
task "t" {
  input {
    provider_path = "p"
    config { v = var.v }
  }
  output { provider_path = "q" }
}
"""


def declaration(type_: str, default: Optional[str] = None) -> str:
    default_line = "" if default is None else f"  default = {default}\n"
    return f'variable "v" {{\n  type    = {type_}\n{default_line}}}\n'


def value(
    type_: str,
    default: Optional[str] = None,
    *,
    given: Optional[str] = None,
    environ: Optional[dict[str, str]] = None,
    var_files: Optional[list[str]] = None,
) -> Any:
    text = declaration(type_, default) + TASK
    variables = [f"v={given}"] if given is not None else []
    project = load_project_text(text, "v.hcl", variables, environ, var_files)
    return project.tasks["t"].input.config["v"]


def error(type_: str, default: Optional[str] = None, **given: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        value(type_, default, **given)
    assert caught.value.hint, "every error says what to do"
    return caught.value


@pytest.mark.parametrize(
    ("type_", "given", "expected"),
    [
        ("list(number)", '["1", 2.5]', [1, 2.5]),
        ("list(string)", "[1, true]", ["1", "true"]),
        ("set(string)", '["a", "b", "a"]', ["a", "b"]),
        ("map(number)", '{a = "5"}', {"a": 5}),
        ("map(bool)", '{a = "true", b = false}', {"a": True, "b": False}),
        ("tuple([string, number, bool])", '[1, "2", "false"]', ["1", 2, False]),
        (
            "object({ host = string, port = number })",
            '{host = 1, port = "5", extra = true}',
            {"host": "1", "port": 5},  # an attribute the type does not list is dropped
        ),
        (
            "list(object({ name = string, port = optional(number, 5432), tls = optional(bool) }))",
            '[{name = "a"}, {name = "b", port = "1", tls = true}, {name = "c", port = null}]',
            [
                {"name": "a", "port": 5432, "tls": None},
                {"name": "b", "port": 1, "tls": True},
                {"name": "c", "port": 5432, "tls": None},
            ],
        ),
        ("list(any)", '["a", 1, true]', ["a", "1", "true"]),
        ("map(any)", "{a = [1], b = [2]}", {"a": [1], "b": [2]}),
        ("list", "[1, 2]", [1, 2]),  # the legacy shorthand of list(any)
        ("list(string)", '["a", null]', ["a", None]),
        ('object({ "first-name" = string })', '{"first-name" = 1}', {"first-name": "1"}),
    ],
)
def test_a_value_is_converted_to_its_type(type_: str, given: str, expected: Any) -> None:
    got = value(type_, given=given)
    assert got == expected and json.dumps(got) == json.dumps(expected)
    assert value(type_, given) == got  # the same, written as the default


def test_any_takes_a_given_text_as_text_and_a_default_as_written() -> None:
    assert value("any", given="[1]") == "[1]"  # as Terraform: only a complex type parses
    assert value("any", '{a = [1, "x"]}') == {"a": [1, "x"]}


def test_an_element_of_the_wrong_type_is_reported_at_the_element() -> None:
    caught = error("list(number)", '["http", "https"]')
    assert str(caught) == (
        'v.hcl:3:14: variable "v" has type list(number), but var.v[0] is a string that '
        "is not a number"
    )
    assert caught.hint == "give var.v[0] a number value, or change the variable's type"


def test_a_missing_attribute_is_reported_with_the_optional_way_out() -> None:
    caught = error("object({ host = string, port = number })", '{ host = "h" }')
    assert str(caught) == (
        'v.hcl:3:13: variable "v" has type object({host = string, port = number}), but '
        "its value has no attribute 'port'"
    )
    assert caught.hint == (
        "add port = ... to var.v, or declare the attribute optional in the variable's "
        "type: port = optional(number)"
    )


@pytest.mark.parametrize(
    ("type_", "given", "message"),
    [
        (
            "object({ host = string, port = number })",
            '{host = 1, port = "p"}',
            "type object({host = string, port = number}), but var.v.port is a string that "
            "is not a number",
        ),
        ("map(number)", '{a = "notnum"}', 'var.v["a"] is a string that is not a number'),
        ("list(string)", "[[1]]", "var.v[0] is a list that is not a string"),
        ("tuple([string, number])", '["a"]', "its value has 1 element(s), not 2"),
        ("set(bool)", '["yes"]', "var.v[0] is a string that is not a bool"),
        ("list(any)", '[1, "a", [2]]', "its value has elements of different types (list and"),
        ("list(any)", "[1, true]", "its value has elements of different types (bool and number)"),
        ("list(list(any))", "[[1, true]]", "var.v[0] has elements of different types"),
        ("map(string)", '["a"]', "its value is a list that is not a map"),
        ("object({ a = string })", '"x"', "its value is a string that is not an object"),
        ("list(object({ a = number }))", "[{a = 1}, {}]", "var.v[1] has no attribute 'a'"),
    ],
)
def test_a_given_value_of_the_wrong_type_is_refused(type_: str, given: str, message: str) -> None:
    caught = error(type_, given=given)
    assert str(caught).startswith('--var v: variable "v" has type '), str(caught)
    assert message in str(caught), str(caught)


def test_the_environment_and_var_files_are_checked_alike(tmp_path: Path) -> None:
    type_ = "map(number)"
    caught = error(type_, environ={"DSTREAM_VAR_v": '{a = 1, b = "x"}'})
    assert str(caught).startswith(
        'DSTREAM_VAR_v: variable "v" has type map(number), but var.v["b"]'
    )
    hcl = tmp_path / "v.tfvars"
    hcl.write_text('v = {\n  a = 1\n  b = "x"\n}\n')
    caught = error(type_, var_files=[str(hcl)])
    assert str(caught).startswith(f'{hcl}:3:7: variable "v" has type map(number), but var.v["b"]')
    as_json = tmp_path / "v.json"
    as_json.write_text('{\n  "v": {\n    "a": 1,\n    "b": [2]\n  }\n}\n')
    caught = error(type_, var_files=[str(as_json)])
    assert str(caught) == (
        f'{as_json}:4:10: variable "v" has type map(number), but var.v["b"] is a list that '
        "is not a number"
    )
    as_json.write_text('{"v": {"a": "7"}}')
    assert value(type_, var_files=[str(as_json)]) == {"a": 7}


@pytest.mark.parametrize(
    ("type_", "where", "message", "hint"),
    [
        ("list(strng)", "2:18", "unknown type strng", "did you mean string? "),
        ('"string"', "2:13", "a type is written without quotes", "write type = string, not "),
        (
            "optional(string)",
            "2:13",
            "optional(...) marks an attribute of an object type, and is valid only there",
            "write object({ NAME = optional(TYPE) }), or remove optional(...)",
        ),
        (
            "list(optional(string))",
            "2:18",
            "optional(...) marks an attribute of an object type, and is valid only there",
            "",
        ),
        ("object", "2:13", "object needs its parts: write object({ NAME = TYPE, ... })", ""),
        ("list(string, number)", "2:13", "list(...) takes one argument, got 2", ""),
        ("string(1)", "2:13", "string takes no arguments: write string", ""),
        (
            "object({ a = string, a = number })",
            "2:34",
            "attribute 'a' appears twice in this object type",
            "keep one of them",
        ),
        (
            'object({ a = optional(number, "x") })',
            "2:43",
            "the default of attribute 'a' is not a number: the default is a string that is "
            "not a number",
            "",
        ),
        ("1 + 1", "2:13", "this is not a type", ""),
    ],
)
def test_a_type_that_is_no_type_is_refused(type_: str, where: str, message: str, hint: str) -> None:
    caught = error(type_, '"x"')
    assert str(caught) == f"v.hcl:{where}: {message}"
    assert (caught.hint or "").startswith(hint)


def test_null_is_a_value_of_every_type_unless_the_variable_is_not_nullable(
    tmp_path: Path,
) -> None:
    var_file = tmp_path / "v.tfvars"
    var_file.write_text("v = null\n")
    assert value("number", "1", var_files=[str(var_file)]) is None
    text = 'variable "v" {\n  type     = number\n  nullable = false\n  default  = 1\n}\n' + TASK
    project = load_project_text(text, "v.hcl", var_files=[str(var_file)])
    assert project.tasks["t"].input.config["v"] == 1  # null given: the default
    without_default = text.replace("  default  = 1\n", "")
    with pytest.raises(ConfigError) as caught:
        load_project_text(without_default, "v.hcl", var_files=[str(var_file)])
    assert str(caught.value) == (
        f'{var_file}:1:5: variable "v" is declared nullable = false, but its value is null'
    )


def test_show_prints_the_converted_value(tmp_path: Path) -> None:
    """What the provider is given: converted, the attributes the type lists only."""
    (tmp_path / "dstream.hcl").write_text(
        declaration("object({ host = string, port = number })") + TASK
    )
    done = dstream("show", "t", "--var", 'v={host=1, port="5", extra=true}', cwd=tmp_path,
                   without="DSTREAM_")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["input"]["config"]["v"] == {"host": "1", "port": 5}
    done = dstream("show", "t", "--var", 'v={host=1, port="p"}', cwd=tmp_path, without="DSTREAM_")
    assert done.returncode == 2
    assert done.stderr.startswith(
        'error: --var v: variable "v" has type object({host = string, port = number}), but '
        "var.v.port is a string that is not a number\n"
    ), done.stderr
