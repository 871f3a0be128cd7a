"""The redactor every output channel passes through (dstream.config.redact), and
what the evaluator marks as derived from a sensitive value."""

from __future__ import annotations

import base64
import json
import urllib.parse

from dstream.config.loader import load_project_text
from dstream.config.redact import Redactor
from dstream.protocol.values import Fragment

SECRET = 's3cr3t/pa$$"word'


def test_the_literal_and_its_common_encodings_are_masked() -> None:
    r = Redactor([SECRET])
    raw = SECRET.encode()
    for form in (
        SECRET,
        json.dumps(SECRET)[1:-1],
        urllib.parse.quote(SECRET, safe=""),
        urllib.parse.quote_plus(SECRET),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
    ):
        text = f"before {form} after"
        assert r.text(text) == "before *** after", form


def test_base64_of_a_text_holding_the_secret_is_masked_at_any_alignment() -> None:
    r = Redactor([SECRET])
    for prefix in ("", "u:", "us:", "use:"):
        encoded = base64.b64encode((prefix + SECRET + ":tail").encode()).decode()
        shown = r.text("Authorization: Basic " + encoded)
        assert "***" in shown, prefix
        # nothing of the secret's own encoding survives (a few edge characters may)
        core = base64.b64encode(SECRET.encode()).decode()[4:-4]
        assert core not in shown


def test_a_traceback_text_is_redacted_as_any_text() -> None:
    """What a crash report passes through before it is written."""
    r = Redactor([SECRET])
    trace = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        f"    connect('postgresql://u:{SECRET}@h/db')\n"
        f"RuntimeError: bad dsn {json.dumps({'dsn': SECRET})}\n"
    )
    shown = r.text(trace)
    assert SECRET not in shown and json.dumps(SECRET)[1:-1] not in shown
    assert "postgresql://u:***@h/db" in shown


def test_values_are_redacted_structurally() -> None:
    r = Redactor(["hunter22", "5432"])
    value = {"dsn": "pg://u:hunter22@h", "port": 5432, "hunter22": [True, None, 1.5]}
    assert r.value(value) == {"dsn": "pg://u:***@h", "port": "***", "***": [True, None, 1.5]}


def test_a_fragment_holding_a_secret_is_its_value_redacted() -> None:
    """A checkpoint written verbatim (a Fragment) is read by its text: one holding a
    secret becomes its decoded value, redacted (a number "***", so the JSON stays
    valid); one holding none stays the same Fragment, its bytes as they were."""
    r = Redactor(["hunter22", "987654"])
    held = Fragment(b'{"token":"u:hunter22","pos":987654,"n":[1, 2]}')
    assert r.value(held) == {"token": "u:***", "pos": "***", "n": [1, 2]}
    assert r.value({"checkpoint": Fragment('"hunter22"')}) == {"checkpoint": "***"}
    clean = Fragment(b'{"pos": 1.50}')
    assert r.value(clean) is clean
    assert r.value(Fragment(b"not json hunter22")) == "not json ***"
    across = Fragment(b'{"hunt":"er22"}')  # the secret only in the text: all of it hidden
    assert Redactor(['hunt":"er22']).value(across) == "***"


def test_short_values_are_not_masked_in_text() -> None:
    r = Redactor(["ab", "abc"])
    assert r.text("ab abc abcd") == "ab *** ***d"


DERIVED = """
variable "pw" {
  sensitive = true
}
variable "plain" {
  default = "visible-value"
}
locals {
  dsn   = "pg://u:${var.pw}@h/db"
  both  = { secret = var.pw, open = "open-value" }
  parts = split("-", var.pw)
}
task "t" {
  input {
    provider_path = "x"
    config {
      dsn     = local.dsn
      shout   = upper(var.pw)
      small   = lower(upper(local.both.secret))
      swapped = replace(var.pw, "-", "+")
      json    = jsonencode(local.both)
      fmt     = format("%s!", var.pw)
      heredoc = <<EOT
key ${var.pw}
EOT
      open    = local.both.open
      plain   = var.plain
      first   = local.parts[0]
      len     = length(var.pw)
    }
  }
  output { provider_path = "y" }
}
"""


def test_every_value_computed_from_a_sensitive_value_is_marked() -> None:
    pw = "alpha-bravo-charlie"
    project = load_project_text(DERIVED, environ={"DSTREAM_VAR_pw": pw})
    config = project.tasks["t"].input.config
    marked = project.sensitive_values
    for key in ("dsn", "shout", "swapped", "json", "fmt", "heredoc", "first"):
        assert config[key] in marked, key
    assert pw in marked and config["small"] == pw
    assert str(config["len"]) in marked or len(str(config["len"])) < 3
    for key in ("open", "plain"):  # selected beside a secret, or not derived at all
        assert config[key] not in marked, key


SENSITIVE_OBJECT = """
variable "db" {
  type      = object({ user = string, password = string })
  sensitive = true
}
task "t" {
  input {
    provider_path = "x"
    config { tables = ["user", "password", "${var.db.user}-x"] }
  }
  output { provider_path = "y" }
}
"""


def test_a_sensitive_objects_attribute_names_are_not_secrets() -> None:
    """The names are the type's, written in the declaration: masking them would turn
    every "user" and "password" in a log into ***, and hide nothing."""
    environ = {"DSTREAM_VAR_db": '{user = "app-user", password = "pass-word"}'}
    project = load_project_text(SENSITIVE_OBJECT, environ=environ)
    assert {"app-user", "pass-word", "app-user-x"} <= project.sensitive_values
    assert not {"user", "password"} & project.sensitive_values


FROM_THE_ENVIRONMENT = """
task "t" {
  input {
    provider_path = "x"
    config {
      plain    = env("MY_SECRET")
      shout    = upper(env("MY_SECRET"))
      dsn      = "pg://u:${env("DB_PASSWORD")}@h/db"
      template = "{{ env \\"API_TOKEN\\" | upper }}"
      region   = upper(env("REGION"))
      switch   = upper(env("USE_TOKEN"))
    }
  }
  output { provider_path = "y" }
}
"""


def test_every_value_computed_from_a_secret_of_the_environment_is_marked() -> None:
    """env() of a variable the redactor names a credential reads a sensitive value."""
    environ = {
        "MY_SECRET": "my-secret-value",
        "DB_PASSWORD": "db-password-value",
        "API_TOKEN": "api-token-value",
        "REGION": "eu-west-value",
        "USE_TOKEN": "true",  # a switch, not a secret
    }
    project = load_project_text(FROM_THE_ENVIRONMENT, environ=environ)
    config = project.tasks["t"].input.config
    assert config["shout"] == "MY-SECRET-VALUE" and config["template"] == "API-TOKEN-VALUE"
    for key in ("plain", "shout", "dsn", "template"):
        assert config[key] in project.sensitive_values, key
    for key in ("region", "switch"):
        assert config[key] not in project.sensitive_values, key


def test_dstreams_own_credentials_in_its_environment_are_remembered() -> None:
    from dstream.config.redact import redact_text, remember_environment

    remember_environment(
        {
            "GITHUB_TOKEN": "gh-token-value-1",
            "DSTREAM_REGISTRY_PASSWORD": "registry-value-2",
            "DOCKER_AUTH_CONFIG": "docker-value-3",
            "PWD": "/home/someone/project",
            "USE_TOKEN": "true",
            "REGION": "eu-west-value",
        }
    )
    text = "gh-token-value-1 registry-value-2 docker-value-3 /home/someone/project true"
    assert redact_text(text + " eu-west-value") == "*** *** *** " + text.split(" ", 3)[3] + (
        " eu-west-value"
    )
