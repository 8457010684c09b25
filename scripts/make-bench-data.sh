#!/usr/bin/env bash
# Makes the benchmark inputs in bench-data/ (not committed: regenerate them):
#   publish-720p-18M.c2s / .s2c   ffmpeg pushes 10 s of 1280x720 25 fps H.264 at
#                                  ~18 Mbit/s + AAC to nginx-rtmp; chunk size 4096
#                                  both ways (ffmpeg always announces 4096; nginx
#                                  is configured with chunk_size 4096): video
#                                  messages of ~90 KB, ~30 KB per message overall
#   publish-240p.c2s / .s2c        ffmpeg pushes 20 s of 320x240 at ~350 kbit/s +
#                                  64 kbit/s AAC: messages of ~760 bytes on average
# The raw bytes of each TCP direction, from C0/S0 on, as in tests/fixtures/.
# Each is captured with tcpdump on loopback from a real ffmpeg -> nginx-rtmp
# push and extracted (and checked against tshark) by scripts/pcap-to-streams.py.
# Prints the sizes and tshark's message counts, and writes bench-data/README.txt.
#
# Usage: scripts/make-bench-data.sh   (root; scripts/install-deps.sh's packages)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPTS=$ROOT/scripts
OUT=${BENCH_DATA_DIR:-$ROOT/bench-data}
PORT=${RTMP_BENCH_PORT:-19361}
HOST=127.0.0.1
RTMP_MODULE=/usr/lib/nginx/modules/ngx_rtmp_module.so

for b in ffmpeg nginx tcpdump tshark python3 ss timeout; do
  command -v "$b" >/dev/null || { echo "missing $b: run scripts/install-deps.sh" >&2; exit 1; }
done
[[ -f $RTMP_MODULE ]] || { echo "missing $RTMP_MODULE (libnginx-mod-rtmp)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "must run as root (tcpdump -i lo)" >&2; exit 1; }
if [[ -n $(ss -Htln "sport = :$PORT") ]]; then echo "port $PORT is in use" >&2; exit 1; fi

WORK=$(mktemp -d /tmp/rtmpscope-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '== %s\n' "$*" >&2; }

cat >"$WORK/nginx.conf" <<EOF
load_module $RTMP_MODULE;
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log info;
events { worker_connections 16; }
rtmp {
    server {
        listen $HOST:$PORT;
        chunk_size 4096;
        application live { live on; }
    }
}
EOF
timeout -k 3 900 nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/nginx-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
for _ in $(seq 50); do [[ -n $(ss -Htln "sport = :$PORT") ]] && break; sleep 0.1; done
[[ -n $(ss -Htln "sport = :$PORT") ]] || { echo "nginx did not start" >&2; cat "$WORK/nginx-error.log" >&2; exit 1; }

mkdir -p "$OUT"
SUMMARY=()

# capture NAME FFMPEG_ARGS...: one push, captured; writes OUT/NAME.c2s and .s2c.
capture() {
  local name=$1 duration=$2; shift 2
  local pcap=$WORK/$name.pcap attempt cap ok
  for attempt in 1 2 3; do
    log "$name (attempt $attempt)"
    timeout -k 3 300 tcpdump -Z root -i lo --immediate-mode -B 65536 -U -w "$pcap" "tcp port $PORT" 2>"$WORK/$name.tcpdump.log" &
    cap=$!
    PIDS+=("$cap")
    for _ in $(seq 50); do grep -q 'listening on' "$WORK/$name.tcpdump.log" && break; sleep 0.1; done
    sleep 0.3
    timeout -k 3 240 ffmpeg -hide_banner -nostdin -loglevel error "$@" -f flv "rtmp://$HOST:$PORT/live/$name"
    sleep 1
    kill -INT "$cap" 2>/dev/null || true
    wait "$cap" 2>/dev/null || true
    ok=1
    grep -q '^0 packets dropped by kernel' "$WORK/$name.tcpdump.log" || { log "tcpdump dropped packets"; ok=0; }
    if [[ $ok == 1 ]] && python3 "$SCRIPTS/pcap-to-streams.py" "$pcap" "$OUT/$name" --port "$PORT" --verify >"$WORK/$name.streams.log"; then
      break
    fi
    ok=0
  done
  [[ $ok == 1 ]] || { echo "$name: capture failed 3 times" >&2; exit 1; }

  # tshark: one row per TCP segment, one comma-separated csid per RTMP message
  # completed in it (type and length only for fmt 0/1 headers, so those are
  # taken from the chunk walk below).
  local counts walk
  counts=$(tshark -r "$pcap" -d "tcp.port==$PORT,rtmpt" -o rtmpt.max_packet_size:1048576 \
      -T fields -E separator=/t -e tcp.srcport -e rtmpt.header.csid 2>/dev/null |
    awk -F'\t' -v port="$PORT" '
      $2 != "" { d = ($1 == port) ? "s2c" : "c2s"; msgs[d] += split($2, c, ",") }
      END { printf "tshark: c2s %d messages, s2c %d messages", msgs["c2s"], msgs["s2c"] }')
  walk=$(python3 "$SCRIPTS/rtmp-chunk-facts.py" "$OUT/$name.c2s" |
    grep -E '^  (messages|largest message|audio/video)' | sed 's/^  //' | paste -sd';' -)
  local c2s_size s2c_size
  c2s_size=$(stat -c %s "$OUT/$name.c2s")
  s2c_size=$(stat -c %s "$OUT/$name.s2c")
  SUMMARY+=("$name.c2s: $c2s_size bytes ($(( c2s_size * 8 / duration / 1000 )) kbit/s over $duration s), $name.s2c: $s2c_size bytes; $counts; c2s chunk walk: $walk")
  log "${SUMMARY[-1]}"
}

capture publish-720p-18M 10 \
  -re -f lavfi -i "testsrc2=size=1280x720:rate=25,noise=alls=8:allf=t" \
  -re -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 10 \
  -c:v libx264 -preset ultrafast -g 50 -b:v 18M -maxrate 18M -bufsize 18M -pix_fmt yuv420p \
  -c:a aac -b:a 128k

capture publish-240p 20 \
  -re -f lavfi -i "testsrc=size=320x240:rate=25" \
  -re -f lavfi -i "sine=frequency=440:sample_rate=44100" -t 20 \
  -c:v libx264 -preset ultrafast -g 25 -b:v 350k -maxrate 350k -bufsize 700k -pix_fmt yuv420p \
  -c:a aac -b:a 64k

kill -QUIT "$NGINX_PID" 2>/dev/null || true
wait "$NGINX_PID" 2>/dev/null || true

{
  echo "Benchmark inputs made by scripts/make-bench-data.sh (regenerate; not committed)."
  echo "$(ffmpeg -version | head -1 | cut -d' ' -f1-3); nginx $(nginx -v 2>&1 | sed 's/.*: //') + libnginx-mod-rtmp $(dpkg-query -W -f '${Version}' libnginx-mod-rtmp); $(tshark --version 2>/dev/null | head -1)"
  printf '%s\n' "${SUMMARY[@]}"
} >"$OUT/README.txt"
cat "$OUT/README.txt"
