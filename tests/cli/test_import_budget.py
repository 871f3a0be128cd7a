"""What `dstream run` imports on the plain path (a local provider, the file state
backend): never the heavy machinery of features it does not use, so the start-up time
measured in benches/bench_startup.py (issue 22) cannot silently grow back.

Each check runs in a fresh interpreter started without `site` (this sandbox's `.pth`
hook imports typing, pathlib and more at every start, which would hide them here), with
this interpreter's sys.path, and looks only at the modules dstream itself added.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson
import pytest

from tests.workspace import Workspace

# Never on the plain path: database drivers, schema validation, OCI and containers,
# the postgres state backend, metrics and progress displays, HTTP, the old HCL parser.
HEAVY = (
    "psycopg",
    "psycopg2",
    "jsonschema",
    "docker",
    "dstream.oci",
    "dstream.runtime.container",
    "dstream.state.postgres",
    "dstream.state.lease",
    "dstream.state.keeper",
    "dstream.runtime.metrics",
    "dstream.runtime.progress",
    "dstream.sdk",
    "dstream.providers",
    "http.client",
    "http.server",
    "urllib.request",
    "ssl",
    "prometheus_client",
    "lark",
    "hcl2",
    "importlib.metadata",
    "logging",  # dstream.logs writes its lines itself (~5 % of a start with logging)
    # A record is no dataclass and dstream's JSON is the core's (dstream/records.py,
    # dstream/protocol/values.py): with orjson's import they were ~60 M instructions.
    "dataclasses",
    "inspect",
    "orjson",
    "uuid",
    "datetime",
    # Annotations are strings and their imports sit under TYPE_CHECKING (~12 M).
    "typing",
    # With random, shutil, bz2 and lzma: ~3 ms of a first run's start, for a temporary
    # name (the caches write theirs with dstream.cache.keep).
    "tempfile",
    # Only to quote a -c or --state-dir in the hint of a stopped run (~3.5 M instructions).
    "shlex",
    # A configuration without variable blocks gives no variable a value: type
    # expressions and var files are not read (~5 M instructions).
    "dstream.config.variables",
    "dstream.config.typeexpr",
    "dstream.config.var_sources",
    # Terraform's functions beyond the core, loaded by the first call of one (~4 M).
    "dstream.config.functions_text",
    "dstream.config.functions_collections",
    "dstream.config.functions_numbers",
    "dstream.config.functions_encoding",
    # Unicode's tables (a 1 MB extension module), for strings beyond ASCII alone.
    "unicodedata",
    # Go's JSON, for jsonencode() and format()'s %q and %v alone.
    "dstream.config.gojson",
)
# Needed only after the stream, or only by a file that has templates.
LATE = ("dstream.runtime.summary", "dstream.config.sprig")

PROBE = """
import sys
sys.path[:] = {path!r}
{before}
before = set(sys.modules)
from dstream.cli import app
{body}
added = sorted(set(sys.modules) - before)
from dstream.runtime.spawn import pdeathsig_prefix
import json
sys.stdout.write(json.dumps({{"added": added, "setpriv": bool(pdeathsig_prefix()),
    "code": code, "compiled": globals().get("compiled", [])}}))
"""

# Notes each module of WATCHED (dstream's) that compiles a regular expression while it
# is imported: from its body, a class body or a helper it calls, i.e. with its body the
# innermost module body on the stack (a library it imports, which compiles as it is
# imported, is that import's cost, HEAVY's). re compiles through re._compile, which
# each of its functions looks up when called.
WATCH_COMPILES = """
import re
WATCHED = {watched!r}
compiled = []
_compile = re._compile
def watching(pattern, flags):
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "<module>":
        frame = frame.f_back
    module = frame.f_globals.get("__name__", "") if frame is not None else ""
    if module.split(".")[0] in WATCHED:
        compiled.append(module)
    return _compile(pattern, flags)
re._compile = watching
"""

# Notes the module that asks for each pattern re compiles (not one re keeps) while the
# run goes on: the innermost caller outside re.
WATCH_RUN_COMPILES = """
import re
compiled = []
_compile = re._compiler.compile
def watching(pattern, flags):
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "re":
        frame = frame.f_back
    compiled.append(frame.f_globals.get("__name__", "") if frame is not None else "")
    return _compile(pattern, flags)
re._compiler.compile = watching
"""
# What a usual environment holds: values with "=", ";" and ":" that name no credential.
USUAL_ENVIRONMENT = {
    "LS_COLORS": "rs=0:di=01;34:ln=01;36:mh=00:pi=40;33:so=01;35:do=01;35:bd=40;33;01:"
    "cd=40;33;01:or=40;31;01:ex=01;32:*.tar=01;31:*.tgz=01;31:*.zip=01;31:*.jpg=01;35:"
    "*.mkv=01;35:*.flac=00;36:*.opus=00;36:",
    "MANPATH": "/usr/local/share/man:/usr/share/man",
    "LESSOPEN": "| /usr/bin/lesspipe %s",
    "GREP_COLORS": "ms=01;31:mc=01;31:sl=:cx=:fn=35:ln=32:bn=32:se=36",
    "NO_PROXY": "localhost,127.0.0.1,.internal",
}

# A module that compiles at import in each way the watch must see, and once on use.
SCRATCH = """
import re
TOP = re.compile("top")
class Body:
    PATTERN = re.compile("class body")
def helper():
    return re.compile("helper")
HELPED = helper()
def later():
    return re.compile("on use")
"""

PARSE = """
parser, module = app.build_parser("run")
args = parser.parse_args(["t", "-q"])
code = 0
"""

# The run, stopped when the pump starts: what was imported before the first envelope.
RUN_TO_PUMP = """
from dstream import _core
class Started(Exception):
    pass
def stop_here(*args, **kwargs):
    raise Started
_core.Pump = stop_here
try:
    app._main(["run", "t", "-q"])
except Started:
    code = 0
else:
    code = 1
"""

RUN = """
code = app._main(["run", "t", "-q"])
"""


def probe(
    ws: Workspace, body: str, before: str = "", *, path: tuple[str, ...] = ()
) -> dict[str, Any]:
    paths = [*path, *(p for p in sys.path if p)]
    code = PROBE.format(body=body, before=before, path=paths)
    done = ws.python(code, "-S")
    result: dict[str, Any] = orjson.loads(done.stdout)
    assert result["code"] == 0, result
    return result


def heavy(added: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in added if any(m == n or m.startswith(n + ".") for n in names)]


def one_envelope(ws: Workspace, *, parsed: bool = True) -> None:
    """A one-envelope project, its parse cache (its own) warm: what every run of an
    unchanged file but the first sees; not `parsed`: empty, as for the first run after
    an edit. (A miss of a text config/quickparse.py declines imports python-hcl2 and
    lark, as it must.)"""
    ws.script("input.sh", """printf '%s\\n' '{"data":1}'\n""")
    ws.shell_output_task("./input.sh", state=True)
    ws.env["DSTREAM_CACHE_DIR"] = str(ws.root / "cache")
    if not parsed:
        return
    warm = ws.run("lint")
    assert warm.returncode == 0, warm.stderr
    assert os.listdir(ws.root / "cache" / "hcl"), "the lint parsed and cached the file"


def test_parsing_run_imports_nothing_heavy(ws: Workspace) -> None:
    added = probe(ws, PARSE)["added"]
    assert heavy(added, HEAVY + LATE) == []
    # the command's parser is built without loading the configuration machinery
    assert "dstream.config.loader" not in added
    assert "dstream.runtime.pipeline" not in added


@pytest.mark.parametrize("parsed", [True, False], ids=["parse cached", "first run"])
def test_run_imports_nothing_heavy_before_the_first_envelope(ws: Workspace, parsed: bool) -> None:
    one_envelope(ws, parsed=parsed)
    result = probe(ws, RUN_TO_PUMP)
    assert os.listdir(ws.root / "cache" / "hcl"), "the run kept its tree (the path guarded)"
    assert heavy(result["added"], HEAVY + LATE) == []
    if result["setpriv"]:  # the parent-death signal is set without ctypes
        assert "ctypes" not in result["added"]


@pytest.mark.parametrize("parsed", [True, False], ids=["parse cached", "first run"])
def test_run_compiles_no_pattern_at_import_before_the_first_envelope(
    ws: Workspace, parsed: bool
) -> None:
    """A regular expression compiled when its module is imported costs ~0.6 M
    instructions of every start (issue 22), used or not: the run path's modules compile
    theirs on first use (re keeps them)."""
    one_envelope(ws, parsed=parsed)
    watch = WATCH_COMPILES.format(watched=("dstream",))
    assert probe(ws, RUN_TO_PUMP, before=watch)["compiled"] == []


def test_a_usual_environment_costs_no_pattern_of_the_secret_rules(ws: Workspace) -> None:
    """Every command reads its environment for secrets (logs.setup); values that hold
    no credential's word, no "://" and no Authorization compile none of the patterns of
    config/connstr.py (each ~0.6 M instructions of every start)."""
    one_envelope(ws)
    ws.env.update(USUAL_ENVIRONMENT)
    compiled = probe(ws, RUN, before=WATCH_RUN_COMPILES)["compiled"]
    assert "dstream.config.connstr" not in compiled, [m for m in compiled if "dstream" in m]


def test_the_run_compile_watch_sees_the_secret_rules_at_work(ws: Workspace) -> None:
    """The control of the test above: a DATABASE_URL with a password is read."""
    one_envelope(ws)
    ws.env.update({**USUAL_ENVIRONMENT, "DATABASE_URL": "postgresql://app:Hunter22pw@db/x"})
    compiled = probe(ws, RUN, before=WATCH_RUN_COMPILES)["compiled"]
    assert "dstream.config.connstr" in compiled, compiled


def test_the_compile_watch_sees_a_module_that_compiles_at_import(ws: Workspace) -> None:
    """The control of the test above: each compile at import is listed, one on use not."""
    (ws.root / "scratch_compiles.py").write_text(SCRATCH)
    watch = WATCH_COMPILES.format(watched=("dstream", "scratch_compiles"))
    body = "import scratch_compiles\nscratch_compiles.later()\ncode = 0\n"
    found = probe(ws, body, before=watch, path=(str(ws.root),))["compiled"]
    assert found == ["scratch_compiles"] * 3, found


def test_a_whole_plain_run_imports_nothing_heavy(ws: Workspace) -> None:
    one_envelope(ws)
    result = probe(ws, RUN)
    assert heavy(result["added"], HEAVY) == []
    # The quick parser's lexer and the layout's checks read a text that is not in the
    # parse cache, and the operators' table is looked up by a binary operator alone.
    assert "dstream.config.quicklex" not in result["added"]
    assert "dstream.config.layout" not in result["added"]  # its checks run at a parse
    assert ws.json_lines("out.jsonl") == [{"data": 1}]


def test_a_run_naming_this_installations_providers_by_path_loads_no_sysconfig(
    ws: Workspace,
) -> None:
    """Whether a provider is one this installation ships decides its describe-cache key.
    Named by a path in the interpreter's own directory, where console scripts run from,
    it is known as one without sysconfig, whose build data cost ~1 ms to load (a bare
    name is looked up in sysconfig's scripts directory, and loads it)."""
    scripts = os.path.dirname(sys.executable)
    ws.config(
        f"""
        state {{ path = "state" }}
        task "t" {{
          input {{
            provider_path = "{os.path.join(scripts, "dstream-counter")}"
            config {{
              max_count = 1
              interval  = 0
            }}
          }}
          output {{ provider_path = "{os.path.join(scripts, "dstream-null")}" }}
        }}
        """
    )
    assert "sysconfig" not in probe(ws, RUN)["added"]
