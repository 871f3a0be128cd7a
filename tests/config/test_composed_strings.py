"""Every string value is in Unicode's composed form (NFC), as Terraform's: cty makes
each string NFC, whether the file spells it with combining characters or with `\\u`
escapes, and whether a function or a variable made it; the environment's values
(env(), `{{ env }}`) are kept as given (tests/config/test_properties.py), so a string
is not composed across an interpolation. Names stay as written. The expected values
are `terraform console`'s (v1.11.4) but for the interpolations', bytes shown by
base64encode: "w6k=" is the composed é, "ZcyB" the decomposed e + U+0301."""

from __future__ import annotations

from pathlib import Path

from tests.config.evaluated import evaluated
from tests.workspace import Workspace, json_document

ACUTE = "\u0301"  # the combining acute accent, written as itself in the file
DECOMPOSED = f"e{ACUTE}"

ROWS = [
    (f'base64encode("{DECOMPOSED}")', "w6k="),
    (r'base64encode("e\u0301")', "w6k="),
    (r'base64encode("\u0065\u0301")', "w6k="),
    # Not composed across an interpolation, where Terraform composes the whole string:
    # what an interpolation puts in is kept as given (config/nfc.py, an env() value).
    (f'base64encode("${{"e"}}{ACUTE}")', "ZcyB"),
    (r'base64encode("${"e"}${"\u0301"}")', "ZcyB"),
    (r'base64encode("%{if true}e\u0301%{endif}")', "w6k="),
    (f"base64encode(<<EOT\n{DECOMPOSED}\nEOT\n)", "w6kK"),
    (r'base64encode(join("", ["e", "\u0301"]))', "w6k="),
    (r'base64encode(replace("ex", "x", "\u0301"))', "w6k="),
    (r'base64encode(jsondecode("[\"e\\u0301\"]")[0])', "w6k="),
    (r'base64encode(base64decode("ZcyB"))', "w6k="),
    (f"base64encode(keys({{{DECOMPOSED}x = 1}})[0])", "w6l4"),
    (f'base64encode(keys({{"{DECOMPOSED}" = 1}})[0])', "w6k="),
    (f'{{"{DECOMPOSED}" = 1}}["\u00e9"]', 1),
    (f'"{DECOMPOSED}" == "\u00e9"', True),
    (r'base64encode("\u212b")', "w4U="),  # the Angstrom sign: Å
    (r'base64encode("\ufb01")', "76yB"),  # the ligature ﬁ: NFKC's, not NFC's
]


def test_string_values_are_composed_as_terraform_composes_them(tmp_path: Path) -> None:
    values = evaluated(tmp_path, [expression for expression, _ in ROWS])
    got = [values[f"c{i}"] for i in range(len(ROWS))]
    assert got == [expected for _, expected in ROWS]


def test_a_variables_strings_are_composed(ws: Workspace) -> None:
    """`terraform console -var 'v=["e\u0301"]'` gives "w6k=" too."""
    (ws.root / "dstream.hcl").write_text(
        'variable "v" { type = list(string) }\n'
        'variable "s" { type = string }\n'
        'task "t" {\n  input {\n    provider_path = "/bin/cat"\n'
        "    config = { v = base64encode(var.v[0]), s = base64encode(var.s) }\n"
        '  }\n  output { provider_path = "/bin/cat" }\n}\n'
    )
    (ws.root / "values.tfvars.json").write_text('{"v": ["e\\u0301"]}')
    done = ws.run(
        "show", "t", "--json", "--var-file", "values.tfvars.json", "--var", f"s={DECOMPOSED}"
    )
    assert done.returncode == 0, done.stderr
    assert json_document(done)["input"]["config"] == {"v": "w6k=", "s": "w6k="}
