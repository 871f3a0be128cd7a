#!/usr/bin/env bash
# Install a built wheel into a fresh virtual environment of another CPython and run the
# test suite against the installed package, never the source tree: the tests are copied
# to a scratch directory that holds no python/ source, and the run fails unless
# `import dstream` resolves inside the venv.
#
#   scripts/test-wheel.sh [WHEEL] [-- PYTEST ARGS...]
#
# WHEEL defaults to the newest dist/dstream-*.whl (build one with scripts/build-wheel.sh).
# Env: WHEEL_PYTHON (interpreter for the venv; default: the first of pyenv's 3.12, 3.13,
# 3.10, 3.9 that exists, else python3), WHEEL_VENV (where to create it; default: a
# temporary directory, removed afterwards).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
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

# Tests and pytest settings only, from the same committed tree build-wheel.sh builds
# (DSTREAM_WHEEL_REF, default HEAD), so tests and package match; no python/ directory,
# so nothing can import the source. Also the files some tests read: docs' listings,
# examples, the workflow, the changelog and the version.
mkdir -p "$WORK/suite"
REF="${DSTREAM_WHEEL_REF:-HEAD}"
paths=()
for p in tests pyproject.toml docs examples .github CHANGELOG.md Cargo.toml; do
  git -C "$ROOT" cat-file -e "$REF:$p" 2>/dev/null && paths+=("$p")
done
git -C "$ROOT" archive --format=tar "$REF" "${paths[@]}" | tar -x -C "$WORK/suite"
find "$WORK/suite" -name __pycache__ -prune -exec rm -rf {} +
cd "$WORK/suite"
export PATH="$VENV/bin:$PATH"   # the wheel's console scripts (dstream, dstream-counter, ...)
where="$("$VENV/bin/python" -c 'import dstream, dstream._core as c; print(dstream.__file__)')"
case "$where" in
  "$VENV"/*) echo "== dstream imported from $where" >&2 ;;
  *) echo "dstream was imported from $where, not the venv" >&2; exit 1 ;;
esac
"$VENV/bin/dstream" version >&2
echo "== pytest ${PYTEST_ARGS[*]}" >&2
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "${PYTEST_ARGS[@]}"
