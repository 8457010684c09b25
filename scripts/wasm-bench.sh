#!/usr/bin/env bash
# The core decoder as wasm32 in headless Chromium against native, on the same
# bytes (the issue's target: wasm32 within 2x of native).
#
# Builds crates/wasm-bench for wasm32-unknown-unknown and natively, serves its
# page (crates/wasm-bench/page/), the module and the benchmark streams on
# 127.0.0.1 with scripts/wasm-bench.py, lets headless Chromium time full
# decoding (Session) and chunk reading (ChunkDecoder) there, then times the
# same functions natively with the same samples and iterations, checks that
# both counted the same messages and prints a table: per file and workload,
# wasm and native MB/s and messages/s, and native/wasm. The figures go to
# target/wasm-bench.json. Installs chromium (Debian package) if it is missing
# and makes the benchmark data (scripts/make-bench-data.sh) if bench-data/
# lacks it.
#
#   bash scripts/wasm-bench.sh
#   WASM_BENCH_SAMPLES=15 WASM_BENCH_WARMUP=3 WASM_BENCH_TIMEOUT=180 bash scripts/wasm-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SAMPLES=${WASM_BENCH_SAMPLES:-15}
WARMUP=${WASM_BENCH_WARMUP:-3}
# Seconds the browser gets to post its figures (loading included).
TIMEOUT=${WASM_BENCH_TIMEOUT:-180}
DATA=${RTMPSCOPE_BENCH_DATA:-$PWD/bench-data}
# The same streams as scripts/bench.sh.
FILES=(publish-720p-18M.c2s publish-240p.c2s)
log() { printf '== %s\n' "$*" >&2; }

missing=0
for f in "${FILES[@]}"; do
  [[ -s $DATA/$f ]] || missing=1
done
if [[ $missing == 1 ]]; then
  log "making the benchmark data (scripts/make-bench-data.sh)"
  BENCH_DATA_DIR=$DATA timeout 1800 bash scripts/make-bench-data.sh
fi

if ! command -v chromium >/dev/null; then
  log "installing chromium (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 900 apt-get install -y --no-install-recommends chromium; then
    timeout 600 apt-get update
    timeout 900 apt-get install -y --no-install-recommends chromium
  fi
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  echo "the wasm32-unknown-unknown target is missing: rustup target add wasm32-unknown-unknown" >&2
  exit 1
fi

log "cargo build --release -p rtmpscope-wasm-bench --lib --target wasm32-unknown-unknown"
timeout 1800 cargo build --release -p rtmpscope-wasm-bench --lib --target wasm32-unknown-unknown
log "cargo build --release -p rtmpscope-wasm-bench --bin rtmpscope-wasm-bench"
timeout 1800 cargo build --release -p rtmpscope-wasm-bench --bin rtmpscope-wasm-bench
TARGET_DIR=$(timeout 300 cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
WASM=$TARGET_DIR/wasm32-unknown-unknown/release/rtmpscope_wasm_bench.wasm
NATIVE=$TARGET_DIR/release/rtmpscope-wasm-bench

WORK=$(mktemp -d /tmp/rtmpscope-wasm-bench.XXXXXX)
SERVER_PID=
BROWSER_PID=
# Chromium runs in its own session (setsid), so that its whole process group
# (zygote, renderer, GPU and utility processes) can be stopped at once.
stop_browser() {
  [[ -n $BROWSER_PID ]] || return 0
  local group
  group=$(ps -o pgid= -p "$BROWSER_PID" 2>/dev/null | tr -d ' ' || true)
  if [[ -n $group && $group != "$(ps -o pgid= -p $$ | tr -d ' ')" ]]; then
    kill -TERM -- "-$group" 2>/dev/null || true
  else
    kill -TERM "$BROWSER_PID" 2>/dev/null || true
  fi
  wait "$BROWSER_PID" 2>/dev/null || true
  BROWSER_PID=
}
cleanup() {
  stop_browser
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

timeout -k 5 $((TIMEOUT + 30)) python3 scripts/wasm-bench.py serve \
  --page crates/wasm-bench/page --wasm "$WASM" --data "$DATA" \
  --port-file "$WORK/port" --out "$WORK/wasm.json" --timeout "$TIMEOUT" &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $WORK/port ]] && break; sleep 0.1; done
[[ -s $WORK/port ]] || { echo "the page server did not start" >&2; exit 1; }
PORT=$(cat "$WORK/port")
files=$(IFS=,; echo "${FILES[*]}")
URL="http://127.0.0.1:$PORT/?files=$files&samples=$SAMPLES&warmup=$WARMUP"

log "headless chromium: $URL"
setsid timeout -k 5 $((TIMEOUT + 10)) chromium --headless --no-sandbox --disable-gpu \
  --disable-quic --no-first-run --disable-background-networking --disable-component-update \
  --disable-sync --disable-background-timer-throttling --disable-renderer-backgrounding \
  --disable-backgrounding-occluded-windows --user-data-dir="$WORK/profile" \
  "$URL" >"$WORK/chromium.log" 2>&1 &
BROWSER_PID=$!
# The server exits once the page posts its figures (or at its deadline); stop
# early if chromium dies first.
while kill -0 "$SERVER_PID" 2>/dev/null; do
  if ! kill -0 "$BROWSER_PID" 2>/dev/null; then
    echo "chromium exited before the page posted its figures" >&2
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    break
  fi
  sleep 0.5
done
server_rc=0
wait "$SERVER_PID" || server_rc=$?
SERVER_PID=
stop_browser
if [[ $server_rc != 0 ]]; then
  echo "no figures from the browser (server exit $server_rc); chromium's log ends:" >&2
  tail -n 30 "$WORK/chromium.log" >&2
  [[ -s $WORK/wasm.json ]] && cat "$WORK/wasm.json" >&2
  exit 1
fi

log "native: $NATIVE --samples $SAMPLES --warmup $WARMUP"
paths=()
for f in "${FILES[@]}"; do paths+=("$DATA/$f"); done
timeout 900 "$NATIVE" --samples "$SAMPLES" --warmup "$WARMUP" "${paths[@]}" >"$WORK/native.json"

echo
python3 scripts/wasm-bench.py report --wasm "$WORK/wasm.json" --native "$WORK/native.json" \
  --out "$TARGET_DIR/wasm-bench.json"
