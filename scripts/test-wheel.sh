#!/usr/bin/env bash
# Install a built wheel into a fresh virtual environment of another CPython and run the
# test suite against the installed package, never the source tree: the tests are copied
# to a scratch directory that holds no python/ source, and the run fails unless
# `import dstream` resolves inside the venv.
#
#   scripts/test-wheel.sh [WHEEL] [-- PYTEST ARGS...]
#   scripts/test-wheel.sh --suite-only DIR     # only write the test suite to DIR
#
# WHEEL defaults to the newest dist/dstream-*.whl (build one with scripts/build-wheel.sh).
# Env: WHEEL_PYTHON (interpreter for the venv; default: the first of pyenv's 3.12, 3.13,
# 3.10, 3.9 that exists, else python3), WHEEL_VENV (where to create it; default: a
# temporary directory, removed afterwards), DSTREAM_WHEEL_REF (the commit whose tests
# run; default HEAD, the tree build-wheel.sh builds, so tests and package match).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

# The suite: the committed tree without the package's source (pyproject.toml's
# python-source), so nothing can import it. Everything else a test reads (README.md,
# docs, examples, the workflow, the changelog, Cargo.toml, ...) is there with no list to
# keep up: tests/wheel/test_suite_files.py checks that what the tests name is in it. The
# release workflow's Windows leg writes its suite with --suite-only too.
write_suite() {
  local dest="$1" ref="${DSTREAM_WHEEL_REF:-HEAD}" src
  src="$(git -C "$ROOT" show "$ref:pyproject.toml" | sed -n 's/^python-source = "\(.*\)"$/\1/p')"
  [ -n "$src" ] || { echo "pyproject.toml at $ref names no python-source" >&2; exit 2; }
  mkdir -p "$dest"
  git -C "$ROOT" archive --format=tar "$ref" | tar -x -C "$dest"
  rm -rf "${dest:?}/$src"
  find "$dest" -name __pycache__ -prune -exec rm -rf {} +
}

if [ "${1:-}" = "--suite-only" ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --suite-only DIR" >&2; exit 2; }
  write_suite "$2"
  exit 0
fi

WHEEL=""
if [ $# -gt 0 ] && [ "$1" != "--" ]; then WHEEL="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
PYTEST_ARGS=("$@")
[ ${#PYTEST_ARGS[@]} -eq 0 ] && PYTEST_ARGS=(tests)

if [ -z "$WHEEL" ]; then
  WHEEL="$(ls -t "$ROOT"/dist/dstream-*.whl 2>/dev/null | head -1 || true)"
fi
[ -f "$WHEEL" ] || { echo "no wheel: run scripts/build-wheel.sh first" >&2; exit 2; }
WHEEL="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")"

PY="${WHEEL_PYTHON:-}"
if [ -z "$PY" ]; then
  for v in 3.12 3.13 3.10 3.9; do
    found="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python3 2>/dev/null | tail -1 || true)"
    if [ -n "$found" ]; then PY="$found"; break; fi
  done
fi
PY="${PY:-python3}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dstream-wheel-test.XXXXXX")"
VENV="${WHEEL_VENV:-$WORK/venv}"
trap 'rm -rf "$WORK"' EXIT
echo "== venv: $("$PY" --version) at $VENV" >&2
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "== install $(basename "$WHEEL") with its test extras" >&2
# The distribution's name is the wheel file's first field (dstream, or dstream_io as
# the release workflow names it for PyPI); the extras come from the wheel's metadata.
DIST="$(basename "$WHEEL" | cut -d- -f1 | tr _ -)"
"$VENV/bin/python" -m pip install -q "$DIST[test] @ file://$WHEEL"

write_suite "$WORK/suite"
cd "$WORK/suite"
export PATH="$VENV/bin:$PATH"   # the wheel's console scripts (dstream, dstream-counter, ...)
where="$("$VENV/bin/python" -c 'import dstream, dstream._core as c; print(dstream.__file__)')"
case "$where" in
  "$VENV"/*) echo "== dstream imported from $where" >&2 ;;
  *) echo "dstream was imported from $where, not the venv" >&2; exit 1 ;;
esac
"$VENV/bin/dstream" version >&2
echo "== pytest ${PYTEST_ARGS[*]}" >&2
# tests/wheel/test_wheel.py runs this script with DSTREAM_WHEEL_TEST=1: the suite inside
# (scripts/ included) must not build and test wheels again.
unset DSTREAM_WHEEL_TEST
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}"
