"""The original's Go text/template + Sprig pass over dstream.hcl: evaluated per task and
lazily, with the Sprig functions original configurations use. The expected strings are
what Go's Sprig gives (functions documented at masterminds.github.io/sprig)."""

from __future__ import annotations

import pytest

from dstream.config.loader import load_project_text
from dstream.errors import ConfigError
from tests.legacy import MSSQL_TO_ASB, OCI_COUNTER_DEMO
from tests.workspace import Workspace


def value(template: str, environ: dict[str, str], *, bare: bool = False) -> object:
    """The value of config key `v` when it is written as `template` (quoted, or bare
    in expression position, where the original pasted the text into HCL)."""
    written = template if bare else f'"{template}"'
    text = (
        'task "t" {\n'
        f'  input {{\n    provider_path = "dstream-counter"\n    config {{ v = {written} }}\n  }}\n'
        '  output { provider_path = "dstream-console" }\n'
        "}\n"
    )
    return load_project_text(text, "t.hcl", environ=environ).task("t").input.config["v"]


@pytest.mark.parametrize(
    ("template", "environ", "expected"),
    [
        ('{{ env "A" }}', {"A": "x y"}, "x y"),
        ("{{ env `A` }}", {"A": "v"}, "v"),
        ('{{ env \\"A\\" }}', {"A": "v"}, "v"),
        ('{{ env "A" | default "fallback" }}', {}, "fallback"),
        ('{{ env "A" | default "fallback" }}', {"A": ""}, "fallback"),
        ('{{ env "A" | default "fallback" }}', {"A": "set"}, "set"),
        ('{{ default "d" (env "A") }}', {}, "d"),
        ('{{ env "A" | upper }}', {"A": "MiXed ß"}, "MIXED SS"),
        ('{{ env "A" | lower }}', {"A": "MiXed"}, "mixed"),
        ('{{ env "A" | trim }}', {"A": " \t pad \n"}, "pad"),
        ('{{ env "A" | quote }}', {"A": 'say "hi"\\\n'}, '"say \\"hi\\"\\\\\\n"'),
        ('{{ env "A" | squote }}', {"A": "it"}, "'it'"),
        ('{{ env "A" | b64enc }}', {"A": "user:pässword"}, "dXNlcjpww6Rzc3dvcmQ="),
        ('{{ env "A" | b64dec }}', {"A": "aGVsbG8gd29ybGQ="}, "hello world"),
        ('{{ env "A" | required "A is needed" }}', {"A": "ok"}, "ok"),
        ('{{- env "A" -}}', {"A": "trimmed markers"}, "trimmed markers"),
        ('{{ "lit" | upper | quote }}', {}, '"LIT"'),
        ('{{ env "A" | trimPrefix "sb://" | trimSuffix "/" }}', {"A": "sb://ns/"}, "ns"),
        ('{{ env "A" | replace "-" "_" }}', {"A": "a-b-c"}, "a_b_c"),
        ('{{ date "2006-01-02" 0 }}', {}, None),  # checked below against time.strftime
    ],
)
def test_sprig_functions_give_the_strings_go_gives(
    template: str, environ: dict[str, str], expected: object
) -> None:
    if expected is None:
        import time

        expected = time.strftime("%Y-%m-%d", time.localtime(0))
    assert value(template, environ) == expected


def test_bare_templates_are_pasted_as_the_original_did() -> None:
    assert value('{{ env "P" }}', {"P": "5432"}, bare=True) == 5432
    assert value('{{ env "B" }}', {"B": "true"}, bare=True) is True
    assert value('{{ env "S" | quote }}', {"S": 'a"b'}, bare=True) == 'a"b'


def test_required_names_its_message_and_position() -> None:
    with pytest.raises(ConfigError) as caught:
        value('{{ env "KEY" | required "KEY must be set" }}', {})
    assert str(caught.value) == "t.hcl:4:19: KEY must be set"
    assert "export KEY=" in (caught.value.hint or "")


def test_unknown_function_is_a_syntax_error_of_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        value('{{ env "A" | shout }}', {"A": "x"})
    assert str(caught.value) == 't.hcl:4:19: function "shout" not defined'


@pytest.mark.parametrize("action", ["if", "range", "with"])
def test_a_go_control_action_is_named_as_one(action: str) -> None:
    """`{{ if env "A" }}yes{{ end }}` was "function "if" not defined", with a list of
    functions for a hint: it is an action dstream's templates do not take."""
    with pytest.raises(ConfigError) as caught:
        value(f'{{{{ {action} env "A" }}}}yes{{{{ end }}}}', {"A": "x"})
    assert f'"{{{{ {action} }}}}" is a Go template action' in str(caught.value)
    assert "cond ? a : b" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("template", "reason", "hint"),
    [
        ('{{ "a" "b" }}', "a value in a template takes no arguments", "a function and its"),
        ("{{ }}", "empty command in the template", "a function and its arguments"),
        ('{{ (env "A" }}', "a '(' in the template is not closed", "add the missing `)`"),
        ('{{ date "2006" "x" }}', "date needs a time, such as now", '{{ date "2006-01-02" now }}'),
    ],
)
def test_a_template_error_says_what_to_write(template: str, reason: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        value(template, {"A": "x"})
    assert str(caught.value) == f"t.hcl:4:19: {reason}"
    assert hint in (caught.value.hint or ""), caught.value.hint


def test_unset_variable_fails_only_the_task_that_uses_it(ws: Workspace) -> None:
    """MSSQL_TO_ASB reads ASB_CONNECTION_STRING; OCI_COUNTER_DEMO reads nothing."""
    ws.config(OCI_COUNTER_DEMO + MSSQL_TO_ASB)
    ws.env.pop("ASB_CONNECTION_STRING", None)
    unset: dict[str, str] = {}
    done = ws.run("run", "oci-counter-demo", env=unset)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Message #") == 5
    done = ws.run("run", "mssql-to-asb", env=unset)
    assert done.returncode == 2, done.stderr
    written = (ws.root / "dstream.hcl").read_text().splitlines()
    line = next(n for n, text in enumerate(written, 1) if "connectionString" in text)
    column = written[line - 1].index("{{") + 1
    where = f"dstream.hcl:{line}:{column}"
    assert f"error: {where}: environment variable ASB_CONNECTION_STRING is not set" in (
        done.stderr
    ), done.stderr
    assert "Traceback" not in done.stderr
