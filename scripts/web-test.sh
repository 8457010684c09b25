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
# The test runs in its own process group, so that whatever it started
# (Chromium and its helpers) is stopped with it, even on a timeout.
rc=0
setsid timeout -k 10 300 node tests/web/e2e.mjs dist target/web-test &
pid=$!
trap 'kill -TERM -- "-$pid" 2>/dev/null || true' EXIT INT TERM
wait "$pid" || rc=$?
kill -TERM -- "-$pid" 2>/dev/null || true
trap - EXIT INT TERM
if [[ $rc != 0 ]]; then
  log "browser tests failed (exit $rc); screenshots in target/web-test/"
fi
exit "$rc"
