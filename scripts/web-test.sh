#!/usr/bin/env bash
# End-to-end tests of the browser inspector in headless Chromium.
#
# Installs what is missing (Debian chromium and chromium-driver, tshark for
# the expected values, npm playwright-core pinned in tests/web/), builds
# dist/ (scripts/web-build.sh), then runs tests/web/e2e.mjs: it serves dist/
# on 127.0.0.1, opens real captures in the page and compares what the page
# shows with tshark's decoding. Screenshots go to target/web-test/.
# Ends with 'N passed, M failed' and a non-zero exit on any failure.
#
#   bash scripts/web-test.sh
#   WEB_TEST_SKIP_BUILD=1 bash scripts/web-test.sh   # reuse dist/
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '== %s\n' "$*" >&2; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 900 apt-get install -y --no-install-recommends "$@"; then
    timeout 600 apt-get update
    timeout 900 apt-get install -y --no-install-recommends "$@"
  fi
}
need=()
[[ -x /usr/bin/chromium ]] || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v tshark >/dev/null || need+=(tshark)
if ((${#need[@]})); then
  log "installing ${need[*]} (apt-get)"
  apt_install "${need[@]}"
fi

want=$(python3 -c 'import json; print(json.load(open("tests/web/package.json"))["dependencies"]["playwright-core"])')
have=$(python3 -c 'import json; print(json.load(open("tests/web/node_modules/playwright-core/package.json"))["version"])' 2>/dev/null || true)
if [[ $have != "$want" ]]; then
  log "installing playwright-core $want (npm ci; it uses Debian's chromium, never downloads a browser)"
  (cd tests/web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 npm ci --no-audit --no-fund)
fi

if [[ -z ${WEB_TEST_SKIP_BUILD:-} || ! -s dist/index.html ]]; then
  bash scripts/web-build.sh
fi

mkdir -p target/web-test
passed=0
failed=0

# The worker's glue in a real dedicated worker: wasm-bindgen-test's runner
# drives headless Chromium through chromedriver (web/webdriver.json gives
# the flags; the runner serves the tests on 127.0.0.1 and stops both).
log "wasm-bindgen-test in headless Chromium (cargo test -p rtmpscope-web --target wasm32-unknown-unknown)"
wasm_out=target/web-test/wasm-bindgen-test.log
wasm_rc=0
(cd web && CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  CHROMEDRIVER=/usr/bin/chromedriver WASM_BINDGEN_TEST_TIMEOUT=120 \
  timeout -k 10 900 cargo test -p rtmpscope-web --target wasm32-unknown-unknown --lib) 2>&1 |
  tee "$wasm_out" | grep -E '^test |test result' || true
wasm_rc=${PIPESTATUS[0]}
read -r wp wf < <(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p' "$wasm_out" | tail -n 1)
if [[ -z ${wp:-} ]]; then
  log "wasm-bindgen-test did not run (exit $wasm_rc); see $wasm_out"
  wp=0 wf=1
elif [[ $wasm_rc != 0 && $wf == 0 ]]; then
  wf=1
fi
passed=$((passed + wp))
failed=$((failed + wf))

# The end-to-end tests run in their own process group, so that whatever
# they started (Chromium and its helpers) is stopped with them, even on a
# timeout.
log "end-to-end tests in headless Chromium (tests/web/e2e.mjs)"
e2e_out=target/web-test/e2e.log
rc=0
setsid timeout -k 10 300 node tests/web/e2e.mjs dist target/web-test > >(tee "$e2e_out") 2>&1 &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null || true' EXIT INT TERM
wait "$pid" || rc=$?
kill -TERM -- "-$pid" 2>/dev/null || true
trap - EXIT INT TERM
sleep 0.2
read -r ep ef < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$e2e_out" | tail -n 1)
if [[ -z ${ep:-} ]]; then
  log "the end-to-end tests did not finish (exit $rc); see $e2e_out"
  ep=0 ef=1
elif [[ $rc != 0 && $ef == 0 ]]; then
  ef=1
fi
passed=$((passed + ep))
failed=$((failed + ef))

[[ $failed == 0 ]] || log "browser tests failed; screenshots and logs in target/web-test/"
echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
