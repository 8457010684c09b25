#!/usr/bin/env bash
# The browser inspector's performance figures in headless Chromium (web/README.md):
#  - wasm bundle size, gzip -9 (target: < 1 MB);
#  - bench-data/push-240p.pcap, a real ~116 MB ffmpeg -> nginx-rtmp push made
#    by scripts/make-capture-bench-data.sh: first rows (< 1.5 s) and fully
#    decoded (< 3 s), median of 3;
#  - a 1,000,000-message session (tests/web/make-million.py): animation frame
#    times while the table scrolls (< 16 ms).
# Builds dist/ first (scripts/web-build.sh); installs what scripts/web-test.sh
# installs. Figures go to target/web-bench.json.
#
#   bash scripts/web-bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '== %s\n' "$*" >&2; }
DATA=${RTMPSCOPE_BENCH_DATA:-$PWD/bench-data}

[[ -x /usr/bin/chromium ]] || { DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; }
[[ -d tests/web/node_modules/playwright-core ]] || (cd tests/web && timeout 600 npm ci --no-audit --no-fund)
[[ -n ${WEB_BENCH_SKIP_BUILD:-} && -s dist/index.html ]] || bash scripts/web-build.sh
if [[ ! -s $DATA/push-240p.pcap ]]; then
  log "making the benchmark captures (scripts/make-capture-bench-data.sh)"
  BENCH_DATA_DIR=$DATA timeout 3600 bash scripts/make-capture-bench-data.sh
fi
if [[ ! -s $DATA/million.c2s ]]; then
  log "making the 1,000,000-message session (tests/web/make-million.py)"
  python3 tests/web/make-million.py "$DATA/million"
fi

gz=$(for f in dist/*.wasm dist/*.js; do gzip -9 -c "$f"; done | wc -c)
raw=$(cat dist/*.wasm | wc -c)
log "bundle: wasm $raw bytes, wasm + js gzip -9 $gz bytes"

mkdir -p target
rc=0
setsid timeout -k 10 650 node tests/web/bench.mjs dist "$DATA/push-240p.pcap" "$DATA/million" target/web-bench.json &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null || true' EXIT INT TERM
wait "$pid" || rc=$?
kill -TERM -- "-$pid" 2>/dev/null || true
trap - EXIT INT TERM
[[ $rc == 0 ]] || { echo "the benchmark failed (exit $rc)" >&2; exit "$rc"; }
python3 - "$gz" "$raw" <<'PY'
import json, sys
gz, raw = int(sys.argv[1]), int(sys.argv[2])
r = json.load(open("target/web-bench.json"))
r["bundle"] = {"wasm_bytes": raw, "wasm_js_gzip_bytes": gz}
json.dump(r, open("target/web-bench.json", "w"), indent=2)
b, m = r.get("big"), r["million"]
print(f"bundle (wasm + js, gzip -9): {gz / 1e6:.2f} MB (target < 1 MB)")
if b:
    print(f"{b['file']} ({b['bytes'] / 1e6:.0f} MB): first rows {b['first_rows_ms']:.0f} ms (target < 1500), "
          f"fully decoded {b['decoded_ms']:.0f} ms (target < 3000); runs {[(round(x['first_rows_ms']), round(x['decoded_ms'])) for x in b['runs']]}; {b['runs'][-1]['status']}; "
          f"worker memory {b['runs'][-1]['worker_memory_mb']} MB")
s = m["scroll"]
print(f"1,000,000-message table ({s['total_rows']} rows; opened in {m['runs'][0]['decoded_ms']:.0f} ms, worker memory {m['runs'][0]['worker_memory_mb']} MB): {s['frames']} frames while scrolling, "
      f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, max {s['max_ms']} ms, {s['over_20ms']} frames over 20 ms ({s['over_20ms'] / s['frames'] * 100:.1f} %), {s['over_33ms']} over 33 ms, "
      f"{s['long_animation_frames']} long animation frames (> 50 ms)")
PY
