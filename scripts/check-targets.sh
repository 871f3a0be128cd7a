#!/usr/bin/env bash
# Type-check the Rust core (dstream-core and the PyO3 binding) for the release
# platforms this machine cannot build wheels for: macOS x86_64/arm64 and Windows x64.
# `cargo check` needs only each target's std (rustup target add ...), not its linker or
# SDK, so it catches a Linux-only call without a portable fallback; linking and running
# happen only in the release workflow on GitHub's runners.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${TMPDIR:-/tmp}/dstream-cross-target}"
TARGETS=(x86_64-apple-darwin aarch64-apple-darwin x86_64-pc-windows-msvc aarch64-unknown-linux-gnu)
installed="$(rustup target list --installed)"
status=0
for target in "${TARGETS[@]}"; do
  if ! grep -qx "$target" <<<"$installed"; then
    echo "skip  $target: std not installed (rustup target add $target)"
    continue
  fi
  if cargo check -q -p dstream-core -p dstream-py --target "$target"; then
    echo "ok    $target"
  else
    echo "FAIL  $target"
    status=1
  fi
done
exit $status
