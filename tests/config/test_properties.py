"""Property: any string set through an environment variable reaches the provider's
config byte for byte, whichever way the configuration reads it.

Quotes, `${`, `%{`, backslashes, newlines and any unicode must neither break the HCL
nor be interpreted by it (the original pasted values into the text, so a `"` in a
password broke the file and a `${` was evaluated).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dstream.config.loader import load_project_text
from tests.workspace import Workspace

# Environment values cannot hold NUL; everything else is fair game.
VALUES = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))

FORMS = {
    "function": ('env("SECRET")', "{v}"),
    "function_in_template": ('"<${env("SECRET")}>"', "<{v}>"),
    "template_escaped_quotes": ('"{{ env \\"SECRET\\" }}"', "{v}"),
    "template_bare_quotes": ('"{{ env "SECRET" }}"', "{v}"),
    "template_backticks": ('"pre {{ env `SECRET` }} post"', "pre {v} post"),
    "heredoc": ('<<EOT\n{{ env "SECRET" }}|${env("SECRET")}\nEOT\n', "{v}|{v}\n"),
}


def _config_value(expression: str, value: str) -> object:
    text = (
        'task "t" {\n  input {\n    provider_path = "p"\n'
        f"    config {{\n      value = {expression}\n    }}\n  }}\n"
        '  output { provider_path = "q" }\n}\n'
    )
    project = load_project_text(text, "prop.hcl", environ={"SECRET": value})
    config = project.tasks["t"].input.config
    # What the runtime sends on the provider's stdin: JSON bytes, decoded back.
    return orjson.loads(orjson.dumps(config))["value"]


@settings(max_examples=150, deadline=None)
@given(value=VALUES)
@example(value='"; } task "x" { ')
@example(value="${local.secret} %{ if true }x%{ endif } $${y} {{ env `Z` }}")
@example(value='line1\nline2\r\n\t\\\\ \\" \\u0041')
@example(value="héllo 🚀 \u2028 \x7f")
@example(value="e\u0301 \U0002f800")  # not in Unicode's composed form: kept so
@example(value="")
def test_environment_values_arrive_byte_for_byte(value: str) -> None:
    for name, (expression, expected) in FORMS.items():
        received = _config_value(expression, value)
        assert received == expected.format(v=value), name
        assert isinstance(received, str)


RECORDING_INPUT = """
read -r command
printf '%s\\n' "$command" > command.json
echo '{"status":"ready"}'
"""


@settings(max_examples=15, deadline=None)
@given(value=VALUES)
@example(value='p"w ${var.x} %{if} \\ \n ünï 💥')
def test_through_a_real_provider_process(value: str) -> None:
    """End to end: `dstream run` hands the provider its command line on stdin; the
    provider (a shell script) records the line it read, byte for byte."""
    with tempfile.TemporaryDirectory() as root:  # one per example: no tmp_path here
        ws = Workspace(Path(root))
        ws.script("record.sh", RECORDING_INPUT)
        ws.config(
            """
            task "t" {
              input {
                provider_path = "./record.sh"
                config {
                  a = env("SECRET")
                  b = "{{ env `SECRET` }}"
                }
              }
              output { provider_path = "dstream-null" }
            }
            """
        )
        done = ws.run("run", "t", "-q", timeout=60, env={"SECRET": value})
        assert done.returncode == 0, done.stderr
        config = orjson.loads(ws.root.joinpath("command.json").read_bytes())["config"]
    assert config == {"a": value, "b": value}
