"""Second secrets audit, item 3: encodings a secret was shown in unmasked: JSON's `\\/`
(PHP's json_encode), the percent-decoded form of a secret written percent-encoded (a URL
password a provider decodes before printing), YAML's and the shell's single-quote
escaping, HTML escaping (named and numeric entities) and lower-case percent-encoding."""

from __future__ import annotations

import html
import json
import re
import urllib.parse

import pytest

from dstream.config.redact import Redactor
from tests.workspace import Workspace

SECRET = "Ab+c/d'e&f<g>9Q"


def _numeric(secret: str, entity: str) -> str:
    return "".join(ch if ch.isalnum() else entity.format(ord(ch)) for ch in secret)


FORMS = {
    "json_slash": json.dumps(SECRET)[1:-1].replace("/", "\\/"),
    "yaml_single": SECRET.replace("'", "''"),
    "shell_single": SECRET.replace("'", "'\\''"),
    "html": html.escape(SECRET),
    "html_no_quote": html.escape(SECRET, quote=False),
    "html_decimal": _numeric(SECRET, "&#{};"),
    "html_hex": _numeric(SECRET, "&#x{:X};"),
    "percent_lower": re.sub(
        r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(SECRET, safe="")
    ),
}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_a_secret_in_this_encoding_is_masked(form: str) -> None:
    shown = FORMS[form]
    assert shown != SECRET
    assert Redactor([SECRET]).text(f"<{shown}>") == "<***>", shown


def test_a_percent_encoded_secret_is_masked_decoded() -> None:
    assert Redactor(["Lit%40Pw%2F99x"]).text("pw Lit@Pw/99x.") == "pw ***."


def test_a_secret_without_percent_escapes_is_not_decoded() -> None:
    assert Redactor(["100%sure"]).text("is 100%sure") == "is ***"


CONFIG = """
variable "pw" { sensitive = true }
task "u" {
  input {
    provider_path = "./p.py"
    config {
      url  = "postgresql://app:Lit%40Pw%2F99x@db/x"
      sas  = var.pw
    }
  }
  output { provider_path = "dstream-null" }
}
"""
PROVIDER = r"""
import json, sys, urllib.parse
config = json.loads(sys.stdin.readline())["config"]
password = urllib.parse.urlsplit(config["url"]).password
sys.stderr.write("url decoded " + urllib.parse.unquote(password) + "\n")
sys.stderr.write("php " + json.dumps(config).replace("/", "\\/") + "\n")
sys.stderr.flush()
sys.exit(2)
"""


def test_decoded_and_php_escaped_passwords_are_masked_in_a_run(ws: Workspace) -> None:
    ws.python_script("p.py", PROVIDER)
    ws.config(CONFIG)
    ws.env["DSTREAM_VAR_pw"] = "Sas/Key+Abc/Xyz=="
    done = ws.run("run", "u")
    assert done.returncode == 1, done.stderr
    assert "url decoded ***" in done.stderr, done.stderr
    for piece in ("Lit@Pw", "Sas\\/Key", "Sas/Key", "Lit%40"):
        assert piece not in done.stderr, done.stderr
