#!/usr/bin/env bash
# Runs every check rtmpscope has, on a fresh machine as well as a used one:
# installs what the tests need (Debian packages for the real programs, the
# wasm32 target, cargo-fuzz, Chromium and the pinned web tools), then format,
# lint, the wasm32 build, the unit, property, real-capture and real-program
# tests, the browser inspector's build and end-to-end tests in headless
# Chromium, and short fuzz runs.
#
#   bash scripts/test.sh            everything
#   FUZZ_SECONDS=0 bash scripts/test.sh   skip fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
CARGO_FUZZ_VERSION=0.13.2

step() { printf '\n== %s\n' "$*"; }

step "installing test dependencies"
bash scripts/install-deps.sh
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets -- -D warnings

step "wasm32 build of the core and capture crates"
cargo build -p rtmpscope-core -p rtmpscope-capture --target wasm32-unknown-unknown --release

step "tests (unit, property, real captures, real programs)"
cargo test --workspace --all-targets
cargo test --workspace --doc

step "browser inspector: build (trunk) and end-to-end tests in headless Chromium"
bash scripts/web-test.sh

if [[ $FUZZ_SECONDS -gt 0 ]]; then
  step "fuzzing each target for ${FUZZ_SECONDS}s"
  if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
  # cargo-fuzz needs nightly flags (sanitizers); the stable toolchain accepts
  # them with RUSTC_BOOTSTRAP, the only toolchain this machine has.
  export RUSTC_BOOTSTRAP=1
  for target in $(cargo fuzz list --fuzz-dir fuzz); do
    mkdir -p "fuzz/corpus/$target"
    cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" fuzz/seeds -- \
      -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=0
  done
fi

step "all checks passed"
