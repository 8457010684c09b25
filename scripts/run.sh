#!/usr/bin/env bash
# The main job: builds the browser inspector (dist/) and rtmpscope, then runs
# the capture proxy with the built-in RTMP server and the live web UI.
#
#   bash scripts/run.sh                                    # built-in server
#   bash scripts/run.sh --upstream live.example.com:1935   # in front of a real server
#
# Encoders publish to rtmp://127.0.0.1:1935/APP/KEY; every session is written
# to captures/ and decoded live, in the terminal and at http://127.0.0.1:8080/.
# LISTEN and UI change the two addresses; other arguments go to `rtmpscope proxy`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/web-build.sh
cargo build --release -p rtmpscope
mkdir -p captures
exec target/release/rtmpscope proxy \
  --listen "${LISTEN:-127.0.0.1:1935}" \
  --ui "${UI:-127.0.0.1:8080}" --ui-dir dist \
  --capture-dir captures "$@"
