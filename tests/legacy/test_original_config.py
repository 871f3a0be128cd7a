"""What an original DStream user's dstream.hcl holds that dstream reads differently:
the `provider` name of an input/output block (ORIGINAL.md section 2: optional, never
used), a bare template pasted into a list (`tables = [{{ env "TABLES" }}]`), and Go
template comments `{{/* ... */}}`."""

from __future__ import annotations

import pytest

from dstream.config.loader import analyze_texts, load_project_text
from dstream.config.sprig import TemplateSyntaxError
from dstream.errors import ConfigError
from tests.legacy import OCI_COUNTER_DEMO, zoo
from tests.workspace import Workspace

# The original's own example (dstream.hcl at db4f7cda): `provider` beside the path.
WITH_PROVIDER_NAMES = f"""
task "t" {{
  type = "providers"
  input {{
    provider = "null"
    provider_path = "{zoo("counter_input")}"
    config {{
      interval = 1
      maxCount = 2
    }}
  }}
  output {{
    provider = "console"
    provider_path = "{zoo("console_output")}"
  }}
}}
"""


def warnings_of(text: str, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """(where and what, hint) of each warning loading `text` gives, with no error."""
    analysis = analyze_texts([("t.hcl", text)], [], [], dict(environ or {}))
    assert not analysis.diagnostics.errors, analysis.diagnostics.errors
    return [(str(d), d.hint or "") for d in analysis.diagnostics.warnings]


# -- `provider = "..."` -----------------------------------------------------------------


def test_the_provider_name_is_ignored_with_a_warning_saying_what_counts() -> None:
    warnings = warnings_of(WITH_PROVIDER_NAMES)
    assert [w for w, _ in warnings] == [
        't.hcl:5:5: provider = "..." in input of task "t" has no effect (the original '
        "ignored it too); the provider comes from provider_path, provider_ref or "
        "provider_image",
        't.hcl:13:5: provider = "..." in output of task "t" has no effect (the original '
        "ignored it too); the provider comes from provider_path, provider_ref or "
        "provider_image",
    ]
    assert all(hint == "remove provider = ..." for _, hint in warnings)
    task = load_project_text(WITH_PROVIDER_NAMES, "t.hcl").task("t")
    assert task.input.provider_path == zoo("counter_input")
    assert task.output.provider_path == zoo("console_output")


def test_a_provider_name_alone_still_names_no_provider() -> None:
    text = 'task "t" {\n  input { provider = "null" }\n  output { provider_path = "x" }\n}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    assert str(caught.value) == 't.hcl:2:3: input of task "t" names no provider'
    assert "provider_path" in (caught.value.hint or "")


def test_a_misspelt_attribute_is_not_pointed_at_the_ignored_name() -> None:
    text = 'task "t" {\n  input {\n    providr = "null"\n    provider_path = "x"\n  }\n'
    text += '  output { provider_path = "x" }\n}\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "t.hcl")
    hint = caught.value.hint or ""
    assert "did you mean provider?" not in hint
    assert "allowed:" in hint and ", provider," not in hint


def test_run_and_lint_accept_the_original_example_with_provider_names(ws: Workspace) -> None:
    ws.config(WITH_PROVIDER_NAMES)
    lint = ws.run("lint")
    assert lint.returncode == 0, lint.stderr
    assert 'warning: dstream.hcl:5:5: provider = "..." in input of task "t" has no effect' in (
        lint.stderr
    )
    done = ws.run("run", "t")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Message #") == 2
    assert 'provider = "..." in output of task "t" has no effect' in done.stderr


# -- a bare template pasted into a list or an object -----------------------------------


LIST_TEMPLATE = """
task "t" {
  input { provider_path = "dstream-counter" }
  output {
    provider_path = "dstream-console"
    config {
      tables = [{{ env "TABLES" }}]
      lock   = { type = {{ env "LOCK" }} }
      port   = {{ env "PORT" }}
      names  = [upper({{ env "TABLES" }})]
    }
  }
}
"""


def test_a_value_that_made_several_items_in_the_original_is_one_item_with_a_warning() -> None:
    environ = {"TABLES": '"Persons","Cars"', "LOCK": '"none", container = "c"', "PORT": "1,2"}
    warnings = warnings_of(LIST_TEMPLATE, environ)
    assert [w for w, _ in warnings] == [
        't.hcl:7:17: {{ env "TABLES" }} in a list is one item here, its whole value (which '
        "holds a quote or a comma); the original pasted the text, which made several items: "
        'for that, write jsondecode("[${env("TABLES")}]")',
        't.hcl:8:25: {{ env "LOCK" }} in an object is one value here, its whole value (which '
        "holds a quote or a comma); the original pasted the text, which made several "
        'entries: for that, write the whole object as JSON and use jsondecode(env("LOCK"))',
    ]
    list_hint = warnings[0][1]
    assert 'split(",", env("TABLES"))' in list_hint and "list(string)" in list_hint
    # The value stays what dstream has always made of it.
    config = load_project_text(LIST_TEMPLATE, "t.hcl", environ=environ).task("t").output.config
    assert config["tables"] == ['Persons","Cars']
    assert config["lock"] == {"type": 'none", container = "c'}
    assert config["port"] == "1,2"


@pytest.mark.parametrize("tables", ['"Persons"', "Persons", '"a,b"', "5"])
def test_a_value_the_original_pasted_as_one_item_gets_no_warning(tables: str) -> None:
    environ = {"TABLES": tables, "LOCK": '"none"', "PORT": "5432"}
    assert warnings_of(LIST_TEMPLATE, environ) == []


def test_the_suggested_expression_gives_the_originals_items() -> None:
    text = LIST_TEMPLATE.replace('[{{ env "TABLES" }}]', 'jsondecode("[${env("TABLES")}]")')
    environ = {"TABLES": '"Persons","Cars"', "LOCK": '"none"', "PORT": "1"}
    config = load_project_text(text, "t.hcl", environ=environ).task("t").output.config
    assert config["tables"] == ["Persons", "Cars"]


def test_run_warns_about_a_list_template_and_keeps_the_value(ws: Workspace) -> None:
    ws.script("in.sh", "read -r line\n")
    ws.script(
        "out.sh",
        'read -r line\necho "$line" > cmdline.json\necho \'{"status":"ready"}\'\ncat >/dev/null\n',
    )
    ws.config(
        """
        task "t" {
          input { provider_path = "./in.sh" }
          output {
            provider_path = "./out.sh"
            config {
              tables = [{{ env "TABLES" }}]
            }
          }
        }
        """
    )
    done = ws.run("run", "t", env={"TABLES": '"Persons","Cars"'})
    assert done.returncode == 0, done.stderr
    assert '{{ env "TABLES" }} in a list is one item here' in done.stderr
    assert 'jsondecode("[${env("TABLES")}]")' in done.stderr
    assert ws.json_lines("cmdline.json")[0]["config"] == {"tables": ['Persons","Cars']}
    lint = ws.run("lint", env={"TABLES": '"Persons","Cars"'})
    assert lint.returncode == 0, lint.stderr
    assert "warning: dstream.hcl:7:17:" in lint.stderr


# -- Go template comments ---------------------------------------------------------------


def output_config(config_lines: str, environ: dict[str, str] | None = None) -> object:
    text = (
        'task "t" {\n  input { provider_path = "dstream-counter" }\n  output {\n'
        '    provider_path = "dstream-console"\n    config {\n'
        f"{config_lines}"
        "    }\n  }\n}\n"
    )
    return load_project_text(text, "t.hcl", environ=environ).task("t").output.config


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('x = "{{/* note */}}y"', "y"),
        ('x = "a{{/* {{ env "UNSET" }} } */}}b"', "ab"),
        ('x = "a {{- /* note */ -}} b"', "ab"),
        ('x = "a {{- /* note */}} b"', "a b"),
        ('x = "a {{/* note */ -}}\t b"', "a b"),
        ('x = "a {{- env "A" -}} b"', "a1b"),
        ('x = "a {{-3}} b"', "a -3 b"),  # Go: the number -3, no trim marker
    ],
)
def test_a_comment_renders_as_nothing_and_trim_markers_trim_as_in_go(
    line: str, expected: str
) -> None:
    assert output_config(f"      {line}\n", {"A": "1"}) == {"x": expected}


def test_comments_outside_strings_and_in_heredocs_are_nothing() -> None:
    lines = (
        "      {{/* the original's header comment */}}\n"
        "      {{- /* trimmed on its own line */ -}}\n"
        "      {{/* one\n"
        "         spanning lines */}}\n"
        '      x = "kept"\n'
        "      q = <<EOT\n"
        "select 1 {{/* why */}}from t\n"
        "EOT\n"
    )
    assert output_config(lines) == {"x": "kept", "q": "select 1 from t\n"}


def test_an_error_after_a_comment_spanning_lines_is_located_where_it_was_written() -> None:
    lines = "      {{/* one\n   two */}}   x = nosuch.z\n"
    with pytest.raises(ConfigError) as caught:
        output_config(lines)
    assert str(caught.value).startswith("t.hcl:7:19:"), caught.value


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('x = "{{/* never closed }}"', "unclosed comment"),
        ('x = "{{/* note */ }}"', "comment ends before closing delimiter"),
        ('x = "{{ /* note */ }}"', "a comment must start right after"),
    ],
)
def test_a_malformed_comment_is_an_error_saying_how_go_writes_one(line: str, reason: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        output_config(f"      {line}\n")
    assert reason in caught.value.reason
    assert "{{/* ... */}}" in (caught.value.hint or "")


def test_a_trim_marker_that_would_join_heredoc_lines_is_an_error() -> None:
    lines = "      q = <<EOT\nselect 1\n{{- /* note */}}\nfrom t\nEOT\n"
    with pytest.raises(TemplateSyntaxError) as caught:
        output_config(lines)
    assert str(caught.value).startswith("t.hcl:8:1:")
    assert "line break" in caught.value.reason


def test_a_comment_spanning_lines_inside_a_string_is_an_error() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        output_config('      x = "a{{/* one\ntwo */}}"\n')
    assert "on one line" in caught.value.reason


def test_lint_accepts_the_original_demo_with_comments(ws: Workspace) -> None:
    ws.config("{{/* copied from the original repo */}}\n" + OCI_COUNTER_DEMO)
    done = ws.run("lint")
    assert done.returncode == 0, done.stderr


def test_fmt_lays_out_a_file_with_a_comment_spanning_lines(ws: Workspace) -> None:
    formatted = (
        "{{/* copied from the original repo,\n"
        "     with its comment */}}\n"
        'task "t" {\n'
        '  input { provider_path = "dstream-counter" }\n'
        "  output {\n"
        '    provider_path = "dstream-console"\n'
        '    config { x = "a {{- /* trimmed */ -}} b" }\n'
        "  }\n"
        "}\n"
    )
    path = ws.config(formatted)
    done = ws.run("fmt", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    path.write_text(formatted.replace("  input", "input").replace("    provider", "  provider"))
    done = ws.run("fmt")
    assert done.returncode == 0, done.stderr
    assert path.read_text() == formatted
