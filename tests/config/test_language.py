"""The configuration language: locals, templates, functions, for expressions, blocks."""

from __future__ import annotations

import os
from typing import Any

import pytest

import dstream.config
from dstream.config.loader import load_project, load_project_text
from dstream.config.model import Project
from dstream.errors import ConfigError

HERE = os.path.dirname(__file__)

PROVIDERS = """
  input {{
    provider_path = "dstream-counter"
    config = {config}
  }}
  output {{ provider_path = "dstream-console" }}
"""


def task_config(body: str, config: str, environ: dict[str, str] | None = None) -> Any:
    """Evaluate `config` as the input's config of a task in a file with `body` around it."""
    text = body + '\ntask "t" {' + PROVIDERS.format(config=config) + "}\n"
    project = load_project_text(text, "test.hcl", environ=environ or {})
    return project.tasks["t"].input.config


def test_reference_example_shares_tables_and_reads_environment() -> None:
    environ = {"DATABASE_CONNECTION_STRING": 'Server=db;Password="p@ss${x}"'}
    project = load_project(os.path.join(HERE, "valid", "reference.hcl"), [], [], environ)
    task = project.tasks["mssql-to-queue"]
    assert task.input.config == {
        "db_connection_string": 'Server=db;Password="p@ss${x}"',
        "tables": ["dbo.Orders", "dbo.Customers"],
    }
    assert task.output.config == {"tables": ["dbo.Orders", "dbo.Customers"]}


def test_original_style_config_parses_unchanged() -> None:
    project = load_project(
        os.path.join(HERE, "valid", "original_style.hcl"), [], [], {"ORIGINAL_CONN": "c=1"}
    )
    task = project.tasks["counter-to-console"]
    assert task.input.provider_ref == "ghcr.io/katasec/dstream-counter-input-provider:v0.3.0"
    assert task.input.config == {
        "interval": 1000,
        "maxCount": 5,
        "connectionString": "c=1",
        "ingest_queue": {"type": "azure_service_bus", "name": "dstream-ingest"},
    }
    assert task.output.provider_path == "./out/dstream-console-output-provider"
    assert any("lock_config is ignored" in str(w) for w in project.warnings)


def test_file_without_locals_or_variables_behaves_as_before() -> None:
    path = os.path.join(os.path.dirname(dstream.config.__file__), "demo.hcl")
    project = load_project(path, [], [], {})
    demo = project.tasks["demo"]
    assert (demo.input.provider_path, demo.output.provider_path) == (
        "dstream-counter",
        "dstream-console",
    )
    assert demo.input.config == {"interval": 500, "max_count": 10}
    assert demo.max_frame_size == 16 * 1024 * 1024 and demo.validate


@pytest.mark.parametrize(
    ("locals_body", "expression", "expected"),
    [
        ('db = "shop"', '"${local.db}_events"', "shop_events"),
        ("n = 3", "local.n", 3),
        ("n = 2.5", "local.n * 2", 5),
        ('tables = ["a", "b"]', "local.tables", ["a", "b"]),
        ('tables = ["a", "b"]', '"${local.tables}"', ["a", "b"]),
        ('tables = ["a", "b"]', "[local.tables[1], 1]", ["b", 1]),
        ('m = { k = "v" }', "{ inner = local.m }", {"inner": {"k": "v"}}),
        ('m = { k = "v" }', 'local.m["k"]', "v"),
        ('a = "x"\n  b = "${local.a}y"\n  c = [local.b, local.a]', "local.c", ["xy", "x"]),
        ('host = "h"\n  dsn = "pg://${local.host}:${5432}"', "local.dsn", "pg://h:5432"),
        ("flag = true", 'local.flag ? "on" : "off"', "on"),
        ('xs = [{ n = "a" }, { n = "b" }]', "local.xs[*].n", ["a", "b"]),
        ('t = ["a", "b"]', '[for x in local.t : upper(x) if x != "a"]', ["B"]),
        ("t = { a = 1, b = 2 }", "{ for k, v in local.t : v => k }", {"1": "a", "2": "b"}),
        ('t = ["a", "b", "a"]', "{ for x in local.t : x => x... }", {"a": ["a", "a"], "b": ["b"]}),
        ('t = ["a", "b"]', '"%{ for x in local.t }${x};%{ endfor }"', "a;b;"),
        ("t = []", '"%{ if length(local.t) == 0 }none%{ else }some%{ endif }"', "none"),
        ("", '"$${not} %%{not}"', "${not} %{not}"),
        ("", r'"tab\there \"q\" \u00e9"', 'tab\there "q" \u00e9'),
        ("", "-1 + 10 / 4", 1.5),
        ("", "!(1 < 2) || 3 >= 3 && 2 != 1", True),
    ],
)
def test_locals_and_expressions(locals_body: str, expression: str, expected: Any) -> None:
    config = task_config(f"locals {{\n  {locals_body}\n}}\n", f"{{ value = {expression} }}")
    assert config["value"] == expected
    assert type(config["value"]) is type(expected)


def test_empty_locals_block_is_fine() -> None:
    assert task_config("locals {}\n", "{ a = 1 }") == {"a": 1}


def test_heredoc_interpolates_and_trims_indentation() -> None:
    body = (
        'locals {\n  db = "shop"\n'
        "  text = <<-EOT\n    use ${local.db}\n      $${keep}\n    EOT\n}\n"
    )
    assert task_config(body, "{ sql = local.text }") == {"sql": "use shop\n  ${keep}\n"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('upper("ab")', "AB"),
        ('lower("AB")', "ab"),
        ('join(",", ["a", "b"], ["c"])', "a,b,c"),
        ('split(",", "a,b")', ["a", "b"]),
        ('concat(["a"], ["b", "c"])', ["a", "b", "c"]),
        ("merge({ a = 1 }, { b = 2, a = 3 })", {"a": 3, "b": 2}),
        ('format("%s-%03d-%.1f-%v-%q-%%", "x", 7, 2.25, true, "y")', 'x-007-2.2-true-"y"-%'),
        ('replace("a-b-c", "-", "+")', "a+b+c"),
        ('replace("v1.2.3", "/v([0-9]+).*/", "major $1")', "major 1"),
        ("tostring(5)", "5"),
        ('tonumber("42")', 42),
        ('jsonencode({ a = [1, "x"] })', '{"a":[1,"x"]}'),
        ('coalesce("", null, "z")', "z"),
        ('length("héllo")', 5),
        ("length({ a = 1 })", 1),
        ('env("DSTREAM_T_SET")', "set-value"),
        ('env("DSTREAM_T_UNSET", "fallback")', "fallback"),
        ('concat([["a"], ["b"]]...)', ["a", "b"]),
        ('trimspace("  x ")', "x"),
        ('lookup({ a = 1 }, "b", 2)', 2),
        ("keys({ b = 1, a = 2 })", ["a", "b"]),
    ],
)
def test_functions(expression: str, expected: Any) -> None:
    config = task_config("", f"{{ value = {expression} }}", {"DSTREAM_T_SET": "set-value"})
    assert config["value"] == expected


TRY_LOCALS = "locals {\n  a = { x = 1 }\n}\n"


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("try(local.a.y, local.a.x + 10)", 11),
        ("try(local.a.x, 5)", 1),
        ('try(tonumber("abc"), "fallback")', "fallback"),
        ('try(env("DSTREAM_T_UNSET"), "no env")', "no env"),
        ('try(local.a["y"], local.a.z, [1, 2])', [1, 2]),
        ("can(local.a.y)", False),
        ("can(local.a.x)", True),
        ('can(tonumber("1.5"))', True),
        ("can(local.a.x) ? local.a.x : 0", 1),
    ],
)
def test_try_and_can_hide_what_depends_on_values(expression: str, expected: Any) -> None:
    """Terraform's try() and can(): an argument that fails to evaluate is passed over."""
    assert task_config(TRY_LOCALS, f"{{ value = {expression} }}")["value"] == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        # wrong for any input: never hidden, as in Terraform
        ("try(local.b, 1)", "test.hcl:8:34: undefined local value local.b"),
        ("can(var.nope)", "test.hcl:8:32: undeclared variable var.nope"),
        ("try(uper(local.a.x), 1)", "test.hcl:8:28: unknown function uper()"),
        # nothing left to fall back on: every argument's own error, each where it is
        (
            "try(local.a.y, local.a.z)",
            "test.hcl:8:24: no argument of try() could be evaluated: test.hcl:8:36: object "
            "has no key 'y'; test.hcl:8:47: object has no key 'z'",
        ),
        ("try()", "test.hcl:8:24: try() needs at least one argument"),
        ("can(1, 2)", "test.hcl:8:24: can() takes exactly one argument"),
        ("try([local.a.x]...)", "test.hcl:8:24: try() takes expressions, not a spread list"),
    ],
)
def test_try_and_can_errors(expression: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        task_config(TRY_LOCALS, f"{{ value = {expression} }}")
    assert str(caught.value) == message
    assert caught.value.hint


def test_a_missing_key_of_an_empty_object_says_it_is_empty() -> None:
    with pytest.raises(ConfigError) as caught:
        task_config("locals {\n  a = {}\n}\n", "{ value = local.a.y }")
    assert str(caught.value).endswith("object has no key 'y'")
    assert caught.value.hint is not None and caught.value.hint.startswith("the object is empty")


def test_try_keeps_a_sensitive_value_sensitive() -> None:
    body = 'variable "pw" {\n  sensitive = true\n  default = "s3cretvalue"\n}\n'
    project = load_project_text(
        body + 'task "t" {\n  input {\n    provider_path = "i"\n    config {\n'
        '      a = try(var.pw, "none")\n      b = try(local.x.y, upper(var.pw))\n'
        '    }\n  }\n  output {\n    provider_path = "o"\n  }\n}\nlocals {\n  x = {}\n}\n',
        "t.hcl",
    )
    from dstream.config.redact import redact_value

    shown = redact_value(project.tasks["t"].input.config, project.sensitive_values)
    assert shown == {"a": "***", "b": "***"}


def test_file_function_reads_relative_to_the_config(tmp_path: Any) -> None:
    (tmp_path / "query.sql").write_text("select 1\n")
    (tmp_path / "dstream.hcl").write_text(
        'task "t" {' + PROVIDERS.format(config='{ sql = file("query.sql") }') + "}\n"
    )
    project = load_project(str(tmp_path / "dstream.hcl"), [], [], {})
    assert project.tasks["t"].input.config == {"sql": "select 1\n"}


def test_config_blocks_nest_and_repeat() -> None:
    text = """
task "t" {
  input {
    provider_path = "p"
    config {
      interval = 100
      ratio    = 0.5
      nested { a = 1 }
      item { x = 1 }
      item { x = 2 }
      item { x = 3 }
      table "orders" { key = "id" }
      table "customers" { key = "cid" }
    }
  }
  output { provider_path = "q" }
}
"""
    config = load_project_text(text, "t.hcl").tasks["t"].input.config
    assert config == {
        "interval": 100,
        "ratio": 0.5,
        "nested": {"a": 1},
        "item": [{"x": 1}, {"x": 2}, {"x": 3}],
        "table": {"orders": {"key": "id"}, "customers": {"key": "cid"}},
    }


def test_config_attribute_form_equals_block_form() -> None:
    block = task_config("", "{ a = 1 }")
    text = 'task "t" {\n input {\n provider_path = "p"\n config { a = 1 }\n }\n'
    text += ' output { provider_path = "q" }\n}\n'
    assert load_project_text(text, "t.hcl").tasks["t"].input.config == block == {"a": 1}


def test_task_settings_are_typed() -> None:
    text = """
task "t" {
  input {
    provider_path = "p"
    env = { MODE = "fast", LEVEL = 3 }
  }
  output { provider_ref = "127.0.0.1:5000/providers/console:1.0" }
  max_frame_size   = "64KiB"
  invalid_frames   = "dead_letter"
  dead_letter_path = "dead/t.jsonl"
  passthrough      = false
  start_timeout    = "1m30s"
  stop_grace       = 2.5
  restart {
    attempts    = 3
    backoff     = "500ms"
    max_backoff = "1m"
  }
}
state {
  backend = "file"
  path    = "st"
}
metrics { addr = "127.0.0.1:9464" }
"""
    project: Project = load_project_text(text, "t.hcl")
    task = project.tasks["t"]
    assert task.input.env == {"MODE": "fast", "LEVEL": "3"}
    assert task.output.provider_ref == "127.0.0.1:5000/providers/console:1.0"
    assert task.max_frame_size == 64 * 1024
    assert (task.invalid_frames, task.dead_letter_path) == ("dead_letter", "dead/t.jsonl")
    assert (task.validate, task.start_timeout, task.stop_grace) == (True, 90.0, 2.5)
    assert (task.restart.attempts, task.restart.backoff, task.restart.max_backoff) == (
        3,
        0.5,
        60.0,
    )
    assert (project.state.backend, project.state.path) == ("file", "st")
    assert project.metrics.addr == "127.0.0.1:9464"


def test_deprecated_plugin_path_is_read_with_a_warning() -> None:
    text = 'task "t" {\n input { plugin_path = "./old" }\n output { provider_path = "q" }\n}\n'
    project = load_project_text(text, "t.hcl")
    assert project.tasks["t"].input.provider_path == "./old"
    assert [str(w) for w in project.warnings] == [
        "t.hcl:2:10: plugin_path is deprecated; it is read as provider_path"
    ]


def test_template_in_expression_position_keeps_numbers() -> None:
    config = task_config(
        "", "{ port = {{ env `PORT` }}, host = {{ env `HOST` }} }", {"PORT": "5432", "HOST": "db"}
    )
    assert config == {"port": 5432, "host": "db"}


def test_columns_after_a_template_point_at_the_original_text() -> None:
    text = 'locals {\n  a = "{{ env `A` }}" == "" ? local.nope : 1\n}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl", environ={"A": ""})
    # `nope` is at column 37 of what was written; the rewritten line has it at 65.
    assert str(caught.value) == "t.hcl:2:37: undefined local value local.nope"


def test_a_string_left_open_is_named_as_the_mistake() -> None:
    """Its own test: a case in invalid/ would end in comment lines the open string takes
    in, up to the `"` of the expected hint."""
    with pytest.raises(ConfigError) as caught:
        load_project_text('locals {\n  name = "abc\n}\n', "t.hcl")
    assert str(caught.value) == (
        't.hcl:2:11: syntax error: unexpected end of file; expected `"` or `${` or text'
    )
    assert caught.value.hint == 'a string is not closed: add the closing `"`'


@pytest.mark.parametrize(
    ("expression", "hint"),
    [
        ('"a" + 1', "arithmetic needs numbers"),
        ("1 / 0", "guard the divisor"),
        ("5[0]", "index a list by number"),
        ("(5).a", "only an object has keys"),
        ("!5", "compare to make a bool"),
        ("{ a = 1, a = 2 }", "remove one of them"),
        ('join(",", 5...)', "spreads a list into arguments"),
        # a function's error says nothing of what to do: its usage does
        ("lower()", "call it as lower(s)"),
        ('split(",")', "call it as split(sep, s)"),
        ("length(5)", "call it as length(v)"),
        ('tonumber("abc")', "call it as tonumber(v)"),
        ("coalesce()", "call it as coalesce(v, ...)"),
    ],
)
def test_an_error_in_an_expression_says_what_to_do(expression: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(f"locals {{\n  x = {expression}\n}}\n", "t.hcl")
    assert caught.value.hint is not None and hint in caught.value.hint, caught.value.hint


def test_every_function_is_in_the_docs_as_its_errors_say_it_is_called() -> None:
    """The usage an error's hint quotes is the one docs/configuration.md shows."""
    from dstream.config.builtins import CATCHING, every_function

    FUNCTIONS = every_function()

    with open(os.path.join(HERE, "..", "..", "docs", "configuration.md"), encoding="utf-8") as f:
        docs = f.read()
    section = docs[docs.index("## Functions") :]
    section = section[: section.index("\n## ", 1)]
    missing = [b.usage for b in FUNCTIONS.values() if f"`{b.usage}`" not in section]
    missing += [usage for usage in CATCHING.values() if f"`{usage}`" not in section]
    assert missing == []


def test_errors_in_every_part_are_collected_for_lint() -> None:
    from dstream.config.loader import analyze_texts

    text = 'locals {\n  a = local.b\n}\ntask "t" {\n  bogus = 1\n}\nweird {}\n'
    result = analyze_texts([("t.hcl", text)], [], [], {})
    messages = [str(d) for d in result.diagnostics.errors]
    assert messages == [
        "t.hcl:7:1: unknown block 'weird' at the top level",
        "t.hcl:2:13: undefined local value local.b",
        "t.hcl:5:3: unknown attribute 'bogus' in task \"t\"",
        # the unknown attribute hides none of the task's other errors
        't.hcl:4:1: task "t" has no input block',
        't.hcl:4:1: task "t" has no output block',
    ]


# -- HCL v2 conformance: heredoc positions, quoted strings, labels, identifiers ----------

HEREDOC_ERROR = (
    'locals {\n  region = "eu"\n  sql = <<%sEOT\n    select 1\n      where r = %s\n    EOT\n}\n'
)


@pytest.mark.parametrize("opener", ["", "-"], ids=["<<EOT", "<<-EOT"])
@pytest.mark.parametrize(
    ("interpolation", "where", "message"),
    [
        ("${local.regoin}", "5:25", "undefined local value local.regoin"),
        ("${upper(local.region) + 1}", "5:19", "is not a number"),
        ("${local.}", "5:25", "syntax error"),
        ('${"a\\qb"}', "5:21", "invalid escape sequence"),
        ("${upper(\n        local.regoin)}", "6:15", "undefined local value local.regoin"),
        ("%{ if local.regoin }x%{ endif }", "5:29", "undefined local value local.regoin"),
        ("%{ for r in\n        local.regoin }x%{ endfor }", "6:15", "undefined local value"),
        ("%{ fi true }x%{ endif }", "5:17", "is no template directive"),
        ("%{ if true }x", "3:9", "template is missing %{endif}"),
        ("${local.region", "5:17", "heredoc has a `${` without its `}`"),
        ("${local.region) + (local.region}", "5:19", "is not one expression"),
    ],
)
def test_an_error_inside_a_heredoc_points_at_its_own_line_and_column(
    opener: str, interpolation: str, where: str, message: str
) -> None:
    """Not at the heredoc's `<<`: a long SQL heredoc needs the exact place. A `<<-`
    heredoc strips its indentation from the text, not from the file's columns."""
    text = HEREDOC_ERROR % (opener, interpolation)
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value).startswith(f"t.hcl:{where}: "), str(caught.value)
    assert message in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize(
    ("heredoc", "expected"),
    [
        ("<<EOT\n%{ for x in local.t }${x}\n%{ endfor }\nEOT", "a\nb\n\n"),
        ("<<EOT\n%{ for x in local.t ~}\n${x}\n%{ endfor ~}\nEOT", "a\nb\n"),
        # Terraform v1.11.4: a `~` trims the one line beside it, and the line-leading
        # blanks `%{~` trimmed away count as no indentation, so `<<-` removes none.
        ("<<-EOT\n  %{~ if true ~}\n  yes\n  %{~ else ~}\n  no\n  %{~ endif ~}\n  EOT", "  yes\n"),
        ("<<EOT\n%{ for k, v in\n  local.m }${k}=${v};%{ endfor }\nEOT", "x=1;y=2;\n"),
        ("<<EOT\n%{ if length(local.t) > 1 }many%{ else }one%{ endif }\nEOT", "many\n"),
        ("<<EOT\n%%{ for } $${x}\nEOT", "%{ for } ${x}\n"),
    ],
)
def test_a_heredoc_takes_directives_as_terraform_does(heredoc: str, expected: str) -> None:
    """`%{ for }`/`%{ if }` with `~` strip markers in a heredoc: what Terraform users
    write for multi-line text (SQL, scripts, YAML) built from lists."""
    body = f'locals {{\n  t = ["a", "b"]\n  m = {{ x = 1, y = 2 }}\n  s = {heredoc}\n}}\n'
    assert task_config(body, "{ v = local.s }") == {"v": expected}


def test_a_heredoc_position_accounts_for_a_template_action_before_it() -> None:
    text = 'locals {\n  sql = <<-EOT\n    {{ env "A" }} ${local.nope}\n  EOT\n}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl", environ={"A": "a"})
    assert str(caught.value) == "t.hcl:3:27: undefined local value local.nope"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ('"a\nb"', "2:9"),
        ('"${local.t[0]}\n"', "2:21"),
        ('"%{ for x in local.t }\n${x}%{ endfor }"', "2:29"),
        ('"$${a\nb}"', "2:12"),
    ],
    ids=["text", "after an interpolation", "between directives", "escaped interpolation"],
)
def test_a_quoted_string_cannot_span_lines(value: str, where: str) -> None:
    """HCL v2 (and Terraform): "Invalid multi-line string"; a heredoc or \\n instead."""
    text = f'locals {{\n  c = {value}\n  t = ["x"]\n}}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value) == f"t.hcl:{where}: a quoted string cannot span lines"
    assert caught.value.hint is not None and "\\n" in caught.value.hint
    assert "heredoc" in caught.value.hint


def test_new_lines_inside_an_interpolation_or_directive_are_allowed() -> None:
    """Only a string's text is on one line: inside `${ }` and `%{ }` it is an expression."""
    config = task_config(
        'locals {\n  t = ["a", "b"]\n}\n',
        '{ v = "${join(",",\n  local.t)}-%{ for x in concat(\n local.t) }${x}%{ endfor }" }',
    )
    assert config == {"v": "a,b-ab"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"${\n  local.n }"', "q"),
        ('"${ local.n\n}"', "q"),
        ('"%{ if\n true }y%{ endif }"', "y"),
        ('"%{ if true\n }y%{ else }n%{ endif }"', "y"),
        ('"%{ for x in\n local.t }${x}%{ endfor }"', "ab"),
        ('"%{ for x\n in local.t }${x}%{ endfor }"', "ab"),
        ('"%{ for i, x in local.t\r\n }${i}${x}%{ endfor }"', "0a1b"),
        ('"${ join("-", [for x in local.t :\n upper(x)]) }"', "A-B"),
        ('"a${ "b${\n local.n }" }"', "abq"),
    ],
)
def test_a_line_break_anywhere_inside_a_template_sequence_is_ignored(
    value: str, expected: str
) -> None:
    """As HCL v2 reads a quoted string: a break between any two tokens of a `${ }` or
    `%{ }` is white space, not only where the grammar's brackets allow one."""
    config = task_config('locals {\n  n = "q"\n  t = ["a", "b"]\n}\n', f"{{ v = {value} }}")
    assert config == {"v": expected}


def test_an_escape_needs_no_closing_brace() -> None:
    """`$${` and `%%{` are three characters, as in HCL: python-hcl2's grammar ran on to
    the next `}`, over the string's end and the attributes after it."""
    config = task_config(
        "", '{ open = "$${", percent = "a %%{ b", close = "}", both = "\\\\$${x}", t = "orders" }'
    )
    assert config == {
        "open": "${",
        "percent": "a %{ b",
        "close": "}",
        "both": "\\${x}",
        "t": "orders",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('"a  ${~ "x" ~}  b"', "axb"),
        ('"a\\n  ${~ "x"}"', "ax"),
        ('"${~ 7 ~}"', 7),  # still the value itself
        ('"%{ if true ~}  x  %{~ endif }"', "x"),
    ],
)
def test_strip_markers_on_an_interpolation(value: str, expected: object) -> None:
    """`${~ x ~}` trims the white space beside it, as on a directive (HCL, Terraform)."""
    assert task_config("", f"{{ v = {value} }}") == {"v": expected}


@pytest.mark.parametrize(
    ("heredoc", "expected"),
    [
        ('<<-EOT\n    a ${\n  upper("x")\n    }\n    b\n    EOT', "a X\nb\n"),
        ('<<-EOT\n    a ${join(",", [\n"p",\n"q"])}\n    b\n    EOT', "a p,q\nb\n"),
        ('<<EOT\na ${~ "x" ~}\n  b\nEOT', "ax  b\n"),  # `~}` trims its own line only
    ],
)
def test_a_heredocs_indentation_counts_only_its_text(heredoc: str, expected: str) -> None:
    """HCL's `<<-` flush looks at lines that start as text, never inside a `${ }`."""
    assert task_config(f"locals {{\n  s = {heredoc}\n}}\n", "{ v = local.s }") == {"v": expected}


def test_an_error_on_a_code_line_of_a_trimmed_heredoc_is_placed_where_it_is() -> None:
    text = "locals {\n  s = <<-EOT\n    a ${\n  local.nope}\n    EOT\n}\n"
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value) == "t.hcl:4:9: undefined local value local.nope"


def test_an_error_after_a_joined_line_break_is_placed_on_the_written_line() -> None:
    text = (
        'locals {\n  t = ["a"]\n'
        '  s = "%{ for x in\n    local.t }${x}%{ endfor }${\n  local.nope }"\n}\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value) == "t.hcl:5:9: undefined local value local.nope"
    text = 'locals {\n  s = "%{ for x in\n    local.t ]}${x}%{ endfor }"\n}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value).startswith("t.hcl:3:13: syntax error"), str(caught.value)


@pytest.mark.parametrize(
    ("value", "where", "escape"),
    [
        ('"bad\\qescape"', "2:11", "\\q"),
        ('"ok\\n then \\x41"', "2:18", "\\x"),
        ('"\\u12"', "2:8", "\\u12"),
        ('"\\UFFFFFFFF"', "2:8", "\\UFFFFFFFF"),
        ('"\\uD800"', "2:8", "\\uD800"),
        ('"${x} \\$"', "2:13", "\\$"),
        ('{ "a\\-b" = 1 }', "2:11", "\\-"),
        ('"$${a\\q}"', "2:12", "\\q"),
    ],
)
def test_an_invalid_escape_is_refused(value: str, where: str, escape: str) -> None:
    text = f"locals {{\n  c = {value}\n  x = 1\n}}\n"
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value).startswith(f"t.hcl:{where}: invalid escape sequence {escape}")
    hint = caught.value.hint or ""
    for valid in ("\\n", "\\r", "\\t", '\\"', "\\\\", "\\uNNNN", "\\UNNNNNNNN", "$${", "%%{"):
        assert valid in hint, hint


def test_valid_escapes_decode() -> None:
    value = r'"\n\r\t\"\\\u00e9\U0001F600 $${x} %%{y} $$ %%"'
    assert task_config("", f"{{ v = {value} }}") == {"v": '\n\r\t"\\é😀 ${x} %{y} $$ %%'}


TASK_BODY = ' {\n  input { provider_path = "p" }\n  output { provider_path = "q" }\n}\n'


@pytest.mark.parametrize(
    ("label", "name"),
    [
        (r'"a\u0041\u00e9b"', "aAéb"),
        (r'"q\"uote\\"', 'q"uote\\'),
        ('"$${x} %%{y}"', "${x} %{y}"),
        ("plain", "plain"),
    ],
)
def test_block_labels_decode_escapes_as_hcl_does(label: str, name: str) -> None:
    project = load_project_text("task " + label + TASK_BODY, "t.hcl")
    assert list(project.tasks) == [name]


@pytest.mark.parametrize(
    ("label", "where", "what"),
    [
        ('"a${local.x}"', "1:8", "${"),
        ('"%{ if true }a%{ endif }"', "1:7", "%{"),
        ('"{{ env "X" }}"', "1:7", "{{ }}"),
    ],
)
def test_a_block_label_is_a_literal_string(label: str, where: str, what: str) -> None:
    """HCL v2: "Template sequences are not allowed in this string" (a label is read
    before anything is evaluated)."""
    with pytest.raises(ConfigError) as caught:
        load_project_text("task " + label + TASK_BODY, "t.hcl", environ={"X": "x"})
    assert str(caught.value).startswith(f"t.hcl:{where}: a block label"), str(caught.value)
    assert what in str(caught.value)
    assert caught.value.hint


def test_unicode_identifiers_are_names_as_in_hcl() -> None:
    """HCL v2 identifiers are Unicode ID_Start (or `_`), then ID_Continue or `-`."""
    config = task_config(
        'locals {\n  名前 = "x"\n  straße-2 = local.名前\n}\n',
        "{ értékek = [local.straße-2, local.名前], नाम = { ключ = 1 } }",
    )
    assert config == {"értékek": ["x", "x"], "नाम": {"ключ": 1}}


def test_a_character_that_cannot_start_a_name_is_no_name() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text("locals {\n  € = 1\n}\n", "t.hcl")
    assert (
        str(caught.value)
        == "t.hcl:2:3: syntax error: unexpected `€`; expected a name or a new line or `}`"
    )
