"""Where configuration comes from: files, directories, DSTREAM_CONFIG, variables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dstream.config.loader import load_builtin_demo, load_project, load_project_text
from dstream.errors import ConfigError

TASK = (
    'task "{name}" {{\n  input {{ provider_path = "p" }}\n  output {{ provider_path = "q" }}\n}}\n'
)


def test_directory_merges_every_hcl_file(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text('locals { table = "orders" }\n' + TASK.format(name="one"))
    (tmp_path / "b.hcl").write_text(
        'task "two" {\n  input {\n    provider_path = "p"\n    config { t = local.table }\n'
        '  }\n  output { provider_path = "q" }\n}\n'
    )
    (tmp_path / "notes.txt").write_text("not config")
    project = load_project(str(tmp_path), [], [], {})
    assert sorted(project.tasks) == ["one", "two"]
    assert project.tasks["two"].input.config == {"t": "orders"}  # locals span files
    assert project.base_dir == str(tmp_path)


def test_duplicate_task_across_files_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "a.hcl").write_text(TASK.format(name="same"))
    (tmp_path / "b.hcl").write_text("\n" + TASK.format(name="same"))
    with pytest.raises(ConfigError) as caught:
        load_project(str(tmp_path), [], [], {})
    a, b = tmp_path / "a.hcl", tmp_path / "b.hcl"
    assert str(caught.value) == f'{b}:2:6: task "same" is defined twice: at {a}:1:6 and here'


def test_a_duplicate_is_reported_with_the_first_blocks_other_errors(tmp_path: Path) -> None:
    """lint lists every error in one pass: a first block with an error of its own
    still claims its name."""
    from dstream.config.loader import analyze_texts

    bad = 'task "same" {\n  max_frame_size = "12 parsecs"\n  input { provider_path = "p" }\n'
    bad += '  output { provider_path = "q" }\n}\n'
    result = analyze_texts([("a.hcl", bad), ("b.hcl", TASK.format(name="same"))], [], [], {})
    messages = [str(d) for d in result.diagnostics.errors]
    assert len(messages) == 2, messages
    assert "must be a size" in messages[0]
    assert messages[1] == 'b.hcl:1:6: task "same" is defined twice: at a.hcl:1:6 and here'


def test_config_comes_from_dstream_config_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere.hcl").write_text(TASK.format(name="env"))
    (tmp_path / "dstream.hcl").write_text(TASK.format(name="default"))
    monkeypatch.chdir(tmp_path)
    environ = {"DSTREAM_CONFIG": str(tmp_path / "elsewhere.hcl")}
    assert list(load_project(None, [], [], environ).tasks) == ["env"]
    assert list(load_project(None, [], [], {}).tasks) == ["default"]
    explicit = load_project(str(tmp_path / "dstream.hcl"), [], [], environ)
    assert list(explicit.tasks) == ["default"]  # -c wins over DSTREAM_CONFIG


def test_missing_config_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project(str(tmp_path / "nope.hcl"), [], [], {})
    assert "does not exist" in str(caught.value)
    assert caught.value.hint and f"create {tmp_path / 'nope.hcl'}," in caught.value.hint


def test_builtin_demo_loads() -> None:
    assert list(load_builtin_demo().tasks) == ["demo"]


VARIABLES = """
variable "region" { default = "eu" }
variable "port" {
  type    = number
  default = 5432
}
variable "tables" {
  type    = list(string)
  default = []
}
variable "password" {
  sensitive   = true
  description = "database password"
}
task "t" {
  input {
    provider_path = "p"
    config {
      region = var.region
      port   = var.port
      tables = var.tables
      dsn    = "pg://u:${var.password}@h/db"
    }
  }
  output { provider_path = "q" }
}
"""


def test_variables_precedence_default_env_file_command_line(tmp_path: Path) -> None:
    var_file = tmp_path / "prod.tfvars"
    var_file.write_text('region = "us"\ntables = ["a", "b"]\n')
    environ = {"DSTREAM_VAR_region": "ap", "DSTREAM_VAR_password": "s3cret"}
    project = load_project_text(VARIABLES, "v.hcl", environ=environ)
    assert project.tasks["t"].input.config["region"] == "ap"
    project = load_project_text(VARIABLES, "v.hcl", environ=environ, var_files=[str(var_file)])
    config = project.tasks["t"].input.config
    assert (config["region"], config["tables"]) == ("us", ["a", "b"])
    project = load_project_text(
        VARIABLES, "v.hcl", ["region=sa", "port=6543", 'tables=["x"]'], environ, [str(var_file)]
    )
    config = project.tasks["t"].input.config
    assert (config["region"], config["port"], config["tables"]) == ("sa", 6543, ["x"])
    assert config["dsn"] == "pg://u:s3cret@h/db"
    # the DSN is computed from the password: sensitive too (docs/security.md, "Secrets")
    assert project.sensitive_values == frozenset({"s3cret", "pg://u:s3cret@h/db"})


def test_json_var_file(tmp_path: Path) -> None:
    var_file = tmp_path / "vars.json"
    var_file.write_text(json.dumps({"password": "pw1", "port": 1}))
    project = load_project_text(VARIABLES, "v.hcl", var_files=[str(var_file)])
    assert project.tasks["t"].input.config["port"] == 1


def test_variable_without_value_names_every_way_to_set_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(VARIABLES, "v.hcl")
    assert str(caught.value) == 'v.hcl:11:1: variable "password" has no value'
    hint = caught.value.hint or ""
    for way in ("--var password=VALUE", "--var-file", "DSTREAM_VAR_password", "default"):
        assert way in hint


def test_var_for_an_undeclared_variable_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(VARIABLES, "v.hcl", ["regoin=x", "password=p"])
    assert str(caught.value) == "--var regoin: no variable 'regoin' is declared"
    assert (caught.value.hint or "").startswith("did you mean region?")


def test_number_variable_rejects_text() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(VARIABLES, "v.hcl", ["port=many", "password=p"])
    expected = 'variable "port" has type number, but its value is a string that is not a number'
    assert str(caught.value) == "--var port: " + expected


def test_a_var_of_the_wrong_type_is_reported_once_where_it_was_given() -> None:
    """The task that uses the variable meets its error again: lint lists it once, at
    the --var or DSTREAM_VAR_ that gave the value."""
    from dstream.config.loader import analyze_texts

    text = VARIABLES + '\ntask "u" {\n  input {\n    provider_path = "p"\n'
    text += '    config { port = var.port }\n  }\n  output { provider_path = "q" }\n}\n'
    expected = 'variable "port" has type number, but its value is a string that is not a number'
    for variables, environ, where in (
        (["port=many", "password=p"], {}, "--var port"),
        (["password=p"], {"DSTREAM_VAR_port": "many"}, "DSTREAM_VAR_port"),
    ):
        errors = analyze_texts([("v.hcl", text)], variables, [], environ).diagnostics.errors
        assert [str(e.location) + ": " + e.message for e in errors] == [f"{where}: {expected}"]


def test_project_loads_from_relative_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "x.hcl").write_text(TASK.format(name="x"))
    monkeypatch.chdir(tmp_path)
    project = load_project("conf", [], [], {})
    assert project.base_dir == os.path.join(str(tmp_path), "conf")


def test_a_var_file_value_that_refers_to_a_local_says_it_is_a_var_file_value(
    tmp_path: Path,
) -> None:
    var_file = tmp_path / "prod.vars"
    var_file.write_text("region = local.x\n")
    with pytest.raises(ConfigError) as caught:
        load_project_text(VARIABLES, "v.hcl", ["password=p"], var_files=[str(var_file)])
    assert str(caught.value) == f"{var_file}:1:10: a var file's value cannot refer to local.*"
    assert (caught.value.hint or "").startswith("a var file's value must be a constant")


def test_a_default_that_refers_to_a_variable_says_it_is_a_default() -> None:
    text = 'variable "a" { default = 1 }\nvariable "b" { default = var.a }\n'
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "v.hcl")
    assert str(caught.value) == "v.hcl:2:26: a variable's default cannot refer to var.*"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"region": "us",\n "region": "ap"}',
            "2:2: variable 'region' is set twice in this JSON var file",
        ),
        (
            '{"tables": [{"a": 1, "b": 2, "a": 3}]}',
            "1:30: the key 'a' appears twice in one object of this JSON var file",
        ),
    ],
)
def test_a_key_twice_in_a_json_var_file_is_refused_where_it_is_repeated(
    tmp_path: Path, text: str, message: str
) -> None:
    var_file = tmp_path / "vars.json"
    var_file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_project_text(VARIABLES, "v.hcl", ["password=p"], var_files=[str(var_file)])
    assert str(caught.value).startswith(f"{var_file}:{message} (JSON leaves which one counts")
    assert caught.value.hint == "keep one of the two"


def test_a_var_file_value_no_variable_declares_is_not_evaluated(tmp_path: Path) -> None:
    """Only warned about: its value is of no use, and under a misspelt name it may be a
    secret that an error would quote."""
    var_file = tmp_path / "prod.vars"
    var_file.write_text("pasword = Tr0ub4dor\n")
    project = load_project_text(VARIABLES, "v.hcl", ["password=p"], var_files=[str(var_file)])
    assert [str(w) for w in project.warnings] == [
        f"{var_file}:1:1: {var_file} sets 'pasword', which no variable block declares"
    ]
