"""Project.reads: what evaluating a configuration read besides its HCL texts (the
environment, files, directories, the clock), so a cached result knows when it is stale.
Each test loads a real project written to tmp_path and asserts the whole record."""

from __future__ import annotations

from pathlib import Path

import pytest

from dstream.config.loader import (
    _BUILTIN_DEMO,
    load_builtin_demo,
    load_project,
    load_project_text,
)
from dstream.config.model import Reads
from dstream.records import asdict


def task(config: str = "") -> str:
    """A one-task configuration whose input's config block holds `config`."""
    return (
        'task "t" {\n'
        f'  input {{\n    provider_path = "p"\n    config {{\n{config}\n    }}\n  }}\n'
        '  output { provider_path = "q" }\n'
        "}\n"
    )


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_config_reading_nothing_else_reads_only_its_file(tmp_path: Path) -> None:
    config = write(tmp_path / "dstream.hcl", task('x = "plain"'))
    project = load_project(config, environ={"HOME": "/h", "DSTREAM_VAR_x": "1"})
    assert project.reads == Reads(files=[config])


def test_env_function_notes_each_name_with_its_value_or_none(tmp_path: Path) -> None:
    text = task('a = env("DB_HOST")\nb = env("DB_PORT", "5432")\nc = env("DB_HOST")')
    config = write(tmp_path / "dstream.hcl", text)
    project = load_project(config, environ={"DB_HOST": "db", "OTHER": "o"})
    assert project.tasks["t"].input.config == {"a": "db", "b": "5432", "c": "db"}
    assert project.reads == Reads(env={"DB_HOST": "db", "DB_PORT": None}, files=[config])


def test_template_env_notes_each_name(tmp_path: Path) -> None:
    text = task('a = "{{ env "USER_NAME" }}"\nb = "{{ env "REGION" | default "eu" }}"')
    config = write(tmp_path / "dstream.hcl", text)
    project = load_project(config, environ={"USER_NAME": "ann", "OTHER": "o"})
    assert project.tasks["t"].input.config == {"a": "ann", "b": "eu"}
    assert project.reads == Reads(env={"USER_NAME": "ann", "REGION": None}, files=[config])


def test_dstream_config_is_noted_when_it_chooses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = write(tmp_path / "elsewhere.hcl", task())
    default = write(tmp_path / "dstream.hcl", task())
    monkeypatch.chdir(tmp_path)
    by_env = load_project(None, environ={"DSTREAM_CONFIG": chosen})
    assert by_env.reads == Reads(env={"DSTREAM_CONFIG": chosen}, files=[chosen])
    # unset, it still decided: setting it later changes which file is loaded
    assert load_project(None, environ={}).reads == Reads(
        env={"DSTREAM_CONFIG": None}, files=[default]
    )
    # -c wins: the variable is not looked at
    relative = load_project("dstream.hcl", environ={"DSTREAM_CONFIG": chosen})
    assert relative.reads == Reads(files=[default])


def test_variables_from_the_environment_note_the_prefix_and_every_name(tmp_path: Path) -> None:
    text = 'variable "region" { default = "us" }\n' + task("r = var.region")
    config = write(tmp_path / "dstream.hcl", text)
    environ = {"DSTREAM_VAR_region": "eu", "DSTREAM_VAR_unused": "x", "HOME": "/h"}
    project = load_project(config, environ=environ)
    assert project.tasks["t"].input.config == {"r": "eu"}
    assert project.reads == Reads(
        env={"DSTREAM_VAR_region": "eu", "DSTREAM_VAR_unused": "x"},
        env_prefixes=["DSTREAM_VAR_"],
        files=[config],
    )


def test_a_config_directory_notes_itself_and_each_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    second = write(folder / "b.hcl", task())
    first = write(folder / "a.hcl", "locals { x = 1 }\n")
    write(folder / "notes.txt", "not config")
    project = load_project(str(folder), environ={})
    assert project.reads == Reads(files=[first, second], dirs=[str(folder)])


def test_paths_are_absolute_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    config = write(tmp_path / "conf" / "x.hcl", task('k = file("key.txt")'))
    key = write(tmp_path / "conf" / "key.txt", "k")
    monkeypatch.chdir(tmp_path)
    project = load_project("conf", environ={})
    assert project.reads == Reads(files=[config, key], dirs=[str(tmp_path / "conf")])


def test_var_files_are_noted_with_what_they_read(tmp_path: Path) -> None:
    text = 'variable "region" {}\nvariable "zone" {}\n' + task("r = var.region")
    config = write(tmp_path / "dstream.hcl", text)
    hcl = write(tmp_path / "prod.tfvars", 'region = env("REGION")\n')
    json = write(tmp_path / "zone.json", '{"zone": "a"}')
    project = load_project(config, var_files=[hcl, json], environ={"REGION": "eu"})
    assert project.tasks["t"].input.config == {"r": "eu"}
    assert project.reads == Reads(
        env={"REGION": "eu"}, env_prefixes=["DSTREAM_VAR_"], files=[config, hcl, json]
    )


def test_file_function_notes_each_file_once_in_first_read_order(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    query = write(tmp_path / "sql" / "q.sql", "select 1")
    cert = write(tmp_path / "cert.pem", "C")
    default = write(tmp_path / "default.txt", "d")
    body = 'q = file("sql/q.sql")\nc = file("cert.pem")\nagain = file("sql/q.sql")\nd = var.d'
    text = 'variable "d" { default = file("default.txt") }\n' + task(body)
    config = write(tmp_path / "dstream.hcl", text)
    project = load_project(config, environ={})
    expected = {"q": "select 1", "c": "C", "again": "select 1", "d": "d"}
    assert project.tasks["t"].input.config == expected
    # a variable's default is read first; the declared variable scans DSTREAM_VAR_
    assert project.reads == Reads(
        env_prefixes=["DSTREAM_VAR_"], files=[config, default, query, cert]
    )


def test_clock_functions_are_volatile_and_a_given_time_reads_the_zone(tmp_path: Path) -> None:
    text = task(
        'day = "{{ date "2006-01-02" }}"\n'
        'stamp = "{{ now | date "15:04" }}"\n'
        'fixed = "{{ date "2006" 0 }}"\n'
        'again = "{{ now }}"'
    )
    config = write(tmp_path / "dstream.hcl", text)
    project = load_project(config, environ={"TZ": "UTC"})
    assert project.tasks["t"].input.config["fixed"] == "1970"
    assert project.reads == Reads(env={"TZ": "UTC"}, files=[config], volatile=["date", "now"])


def test_a_given_time_alone_is_not_volatile(tmp_path: Path) -> None:
    config = write(tmp_path / "dstream.hcl", task('y = "{{ date "2006" 0 }}"'))
    project = load_project(config, environ={})
    assert project.reads == Reads(env={"TZ": None}, files=[config])


def test_a_parse_cache_hit_notes_the_same_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTREAM_CACHE_DIR", str(tmp_path / "cache"))
    config = write(tmp_path / "dstream.hcl", task('a = env("A")\nb = file("dstream.hcl")'))
    fresh = load_project(config, environ={"A": "1"})
    assert list((tmp_path / "cache" / "hcl").glob("*.tree")), "the first load cached its tree"
    cached = load_project(config, environ={"A": "1"})
    assert cached.reads == fresh.reads == Reads(env={"A": "1"}, files=[config])


def test_text_given_in_memory_is_not_a_file_read() -> None:
    project = load_project_text(task('a = env("A", "x")'), "t.hcl", environ={})
    assert project.reads == Reads(env={"A": None})


def test_the_builtin_demo_notes_its_file() -> None:
    assert load_builtin_demo().reads == Reads(files=[_BUILTIN_DEMO])


def test_reads_leave_the_task_definition_alone(tmp_path: Path) -> None:
    """Reads sit on the project, not in a task: they never reach a task's digest."""
    config = write(tmp_path / "dstream.hcl", task('a = env("A")'))
    project = load_project(config, environ={"A": "1"})
    assert "reads" in asdict(project)
    assert "reads" not in asdict(project.tasks["t"])
