"""In a locale whose encoding cannot write every character dstream prints (LC_ALL=C with
UTF-8 mode off, as an ISO-8859-1 locale is for a Polish task name), every command still
says what it did: a character stdout cannot take is escaped (as stderr's are), a JSON
document stays valid JSON, and a run starts its providers with a task name its
environment cannot hold in the locale's encoding."""

from __future__ import annotations

import orjson

from tests.workspace import Workspace

# Python's ASCII locale, strict about what it writes (UTF-8 mode would save it).
ASCII_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0", "LANG": "C"}
NAME = "zażółć"


def _project(ws: Workspace) -> None:
    ws.config(
        f"""
        task "{NAME}" {{
          input {{
            provider_path = "dstream-counter"
            config {{
              interval  = 0
              max_count = 2
            }}
          }}
          output {{
            provider_path = "dstream-file"
            config {{ path = "out.jsonl" }}
          }}
        }}
        task "t" {{
          input {{
            provider_path = "dstream-counter"
            config {{ max_count = 1 }}
          }}
          output {{
            provider_path = "dstream-file"
            config {{ path = "t.jsonl" }}
          }}
        }}
        """
    )


def test_plan_and_status_print_their_closing_line(ws: Workspace) -> None:
    _project(ws)
    for command in ("plan", "status"):
        done = ws.run(command, "t", env=ASCII_LOCALE)
        assert done.returncode == 0, done.stderr
        assert 'task "t"' in done.stdout and "successfully" in done.stdout, done.stdout
        assert "internal error" not in done.stderr


def test_list_escapes_a_name_the_locale_cannot_write(ws: Workspace) -> None:
    _project(ws)
    done = ws.run("list", env=ASCII_LOCALE)
    assert done.returncode == 0, done.stderr
    assert "za\\u017c" in done.stdout, done.stdout


def test_a_json_document_stays_json(ws: Workspace) -> None:
    _project(ws)
    done = ws.run("list", "--json", env=ASCII_LOCALE)
    assert done.returncode == 0, done.stderr
    doc = orjson.loads(done.stdout_bytes)  # escaped the JSON way: the name comes back
    assert NAME in str(doc), doc


def test_run_starts_a_task_whose_name_the_locale_cannot_encode(ws: Workspace) -> None:
    _project(ws)
    done = ws.run("run", "--all", env=ASCII_LOCALE)
    assert done.returncode == 0, done.stderr
    assert len(ws.json_lines("out.jsonl")) == 2
