#!/usr/bin/env bash
# Build dstream's portable Linux wheel (manylinux2014, abi3: one wheel for CPython >= 3.9)
# and its sdist, from a clean export of the committed tree (HEAD), never from
# uncommitted edits: what is released is what is in git.
#
#   scripts/build-wheel.sh [OUT_DIR]        default OUT_DIR: dist/
#
# Env: DSTREAM_WHEEL_REF (git ref to build, default HEAD), DSTREAM_WHEEL_TARGET
# (manylinux2014 | musllinux_1_2; default manylinux2014), CARGO_TARGET_DIR (kept
# between builds to make the second one fast; default $TMPDIR/dstream-wheel-target).
#
# The glibc baseline comes from zig (`maturin --zig`, PyPI package `ziglang`), so the
# wheel runs on glibc >= 2.17 although this machine has a newer glibc.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/dist}" && cd "${1:-$ROOT/dist}" && pwd)"
REF="${DSTREAM_WHEEL_REF:-HEAD}"
TARGET="${DSTREAM_WHEEL_TARGET:-manylinux2014}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/dstream-wheel-target}"
PY="${PYTHON:-python3}"

need() { "$PY" -c "import $1" 2>/dev/null || "$PY" -m pip install -q "$2"; }
need maturin 'maturin>=1.5,<2'
need ziglang 'ziglang>=0.11'

SRC="$(mktemp -d "${TMPDIR:-/tmp}/dstream-src.XXXXXX")"
trap 'rm -rf "$SRC"' EXIT
git -C "$ROOT" archive --format=tar "$REF" | tar -x -C "$SRC"
echo "building $(git -C "$ROOT" rev-parse --short "$REF") for $TARGET into $OUT" >&2

cd "$SRC"
start=$(date +%s)
if [ "$TARGET" = "musllinux_1_2" ]; then
  # needs: rustup target add x86_64-unknown-linux-musl (not installable here: no download)
  "$PY" -m maturin build --release --zig --target x86_64-unknown-linux-musl \
    --compatibility musllinux_1_2 --out "$OUT"
else
  "$PY" -m maturin build --release --zig --compatibility "$TARGET" --out "$OUT"
fi
"$PY" -m maturin sdist --out "$OUT"
echo "built in $(( $(date +%s) - start )) s:" >&2
ls -1 "$OUT" >&2
