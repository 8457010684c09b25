#!/usr/bin/env bash
# Whole-program benchmark: `rtmpscope decode --json` against tshark's RTMP
# dissector on the real captures of scripts/make-capture-bench-data.sh, in the
# same run, one program at a time (never in parallel), as issue 3 asks:
#   rtmpscope decode --json FILE > /dev/null
#   tshark -r FILE -d tcp.port==PORT,rtmpt -o rtmpt.max_packet_size:1048576 \
#          -Y rtmpt -T fields -e rtmpt.header.typeid > /dev/null
# PORT is the server port of the capture (the destination of its first SYN).
# Each command runs REPS times (default 3), alternating rtmpscope and tshark
# with the file in the page cache; wall time and peak RSS come from GNU time
# (`/usr/bin/time -f '%e %M'`; the wall time is also taken with nanosecond
# resolution around it, and the table uses that one). Then both programs run
# once more to count RTMP messages: rtmpscope's `"kind":"message"` lines, and
# tshark's messages (comma-separated, one per message completed in the frame);
# tshark prints rtmpt.header.typeid only for fmt 0/1 headers, so its count
# run adds -e rtmpt.header.csid -e rtmpt.header.format and the csids are the
# message count (type ids shown beside it); per chunk stream and type too.
# Prints a table with the medians, MB/s (10^6 bytes), the speed ratio and the
# targets, and writes it to target/bench-vs-tshark.txt.
#
# Usage: scripts/bench-vs-tshark.sh [PCAP...]
#   default: bench-data/push-720p-18M.pcap bench-data/push-240p.pcap
#   (made by scripts/make-capture-bench-data.sh when missing)
# Environment: REPS (default 3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
REPS=${REPS:-3}
DATA=${BENCH_DATA_DIR:-$ROOT/bench-data}
TSHARK_OPTS=(-o rtmpt.max_packet_size:1048576 -Y rtmpt -T fields -e rtmpt.header.typeid)
# issue 3's targets
TARGET_RATIO_720P=5
TARGET_RATIO_240P=200
TARGET_RSS_MB=64

log() { printf '== %s\n' "$*" >&2; }

if [[ $# -gt 0 ]]; then
  FILES=("$@")
else
  FILES=("$DATA/push-720p-18M.pcap" "$DATA/push-240p.pcap")
  for f in "${FILES[@]}"; do
    if [[ ! -s $f ]]; then
      log "making the captures (scripts/make-capture-bench-data.sh)"
      timeout 3600 bash scripts/make-capture-bench-data.sh
      break
    fi
  done
fi

if [[ ! -x /usr/bin/time ]]; then
  log "installing GNU time (Debian package 'time')"
  timeout 600 apt-get install -y time >/dev/null
fi
for b in tshark capinfos cargo; do
  command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 1; }
done

log "cargo build --release -p rtmpscope"
timeout 3600 cargo build --release -p rtmpscope
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=$TARGET_DIR/release/rtmpscope
[[ -x $BIN ]] || { echo "no $BIN" >&2; exit 1; }

WORK=$(mktemp -d /tmp/rtmpscope-vs-tshark.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# measure OUTFILE CMD...: runs CMD with stdout to /dev/null under GNU time;
# appends "wall_seconds gnu_time_e peak_rss_kb exit_status" to OUTFILE.
measure() {
  local out=$1; shift
  local t0 t1 rc
  t0=$(date +%s%N)
  set +e
  timeout -k 5 600 /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr"
  rc=$?
  set -e
  t1=$(date +%s%N)
  if [[ $rc != 0 ]]; then
    log "exit status $rc: $*"
    tail -5 "$WORK/stderr" >&2
  fi
  # GNU time writes "Command exited with non-zero status N" first when it fails.
  echo "$(( (t1 - t0) / 1000 )) $(tail -1 "$WORK/time") $rc" | awk '{printf "%.6f %s %s %s\n", $1 / 1e6, $2, $3, $4}' >>"$out"
}

median_col() {  # FILE COLUMN
  sort -g -k"$2,$2" "$1" | awk -v c="$2" '{v[NR] = $c} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
max_col() { awk -v c="$2" 'BEGIN {m = 0} $c > m {m = $c} END {print m}' "$1"; }

{
  echo "rtmpscope decode --json vs tshark's RTMP dissector, $(date -u +%FT%TZ)"
  echo "machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rtmpscope: $BIN (git $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+dirty')); $(tshark --version 2>/dev/null | head -1)"
  echo "each command $REPS times, alternating, file in the page cache; medians of the wall time; peak RSS = max over the runs (GNU time %M)"
} >"$WORK/header"
cat "$WORK/header" >&2

ROWS=()
TARGETS=()
COMMANDS=()
for f in "${FILES[@]}"; do
  [[ -s $f ]] || { echo "no capture $f" >&2; exit 1; }
  name=$(basename "$f" .pcap)
  size=$(stat -c %s "$f")
  pkts=$(capinfos -M -c -T -r "$f" | cut -f2)
  # The server port: destination of the first SYN without ACK.
  port=$(timeout 120 tshark -r "$f" -Y 'tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields -e tcp.dstport 2>/dev/null | head -1)
  [[ $port =~ ^[0-9]+$ ]] || { echo "$f: no SYN, cannot tell the server port" >&2; exit 1; }
  RS=("$BIN" decode --json "$f")
  TS=(tshark -r "$f" -d "tcp.port==$port,rtmpt" "${TSHARK_OPTS[@]}")
  COMMANDS+=("$(printf '%q ' "${RS[@]}")> /dev/null" "$(printf '%q ' "${TS[@]}")> /dev/null")
  log "$name: $size bytes, $pkts packets, server port $port"
  cat "$f" >/dev/null  # into the page cache
  : >"$WORK/$name.rs"
  : >"$WORK/$name.ts"
  # Read again before every run: this machine's kernel reclaims file pages
  # that sat idle for a few seconds (DAMON), and a run that meets a partly
  # evicted file waits for the disk (seen: 3.9 s instead of 0.2 s for 8 MB).
  for ((i = 1; i <= REPS; i++)); do
    cat "$f" >/dev/null
    measure "$WORK/$name.rs" "${RS[@]}"
    log "  run $i rtmpscope: $(tail -1 "$WORK/$name.rs")   (wall s, GNU time %e, %M KB, exit)"
    cat "$f" >/dev/null
    measure "$WORK/$name.ts" "${TS[@]}"
    log "  run $i tshark:    $(tail -1 "$WORK/$name.ts")"
  done

  # Message counts, both ways (one more run each, not timed). tshark prints
  # rtmpt.header.typeid only for messages whose first chunk has a fmt 0/1
  # header (none for fmt 2/3), so the count run asks it for the csid and the
  # header format too: one csid per message it completed in the frame.
  timeout -k 5 600 "${RS[@]}" 2>/dev/null |
    python3 -c '
import collections, json, sys
types, csids, other = collections.Counter(), collections.Counter(), collections.Counter()
for line in sys.stdin:
    o = json.loads(line)
    if o.get("kind") == "message":
        types[o.get("type")] += 1
        csids[o.get("csid")] += 1
    else:
        other[o.get("kind")] += 1
print(sum(types.values()))
print(" ".join(f"{k}:{v}" for k, v in sorted(types.items(), key=lambda kv: str(kv[0]).zfill(3))))
print(" ".join(f"{k}:{v}" for k, v in sorted(csids.items())))
print(", ".join(f"{k} {v}" for k, v in sorted(other.items())))
' >"$WORK/$name.rs.count"
  rs_msgs=$(sed -n 1p "$WORK/$name.rs.count")
  timeout -k 5 600 "${TS[@]:0:${#TS[@]}-2}" -e rtmpt.header.typeid -e rtmpt.header.csid -e rtmpt.header.format \
    2>/dev/null >"$WORK/$name.tsout" || true
  python3 - "$WORK/$name.tsout" >"$WORK/$name.ts.count" <<'PY'
import collections, sys
types, csids, fmts = collections.Counter(), collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    t, c, f = (line.rstrip("\n").split("\t") + ["", "", ""])[:3]
    for v in filter(None, t.split(",")):
        types[int(v, 0)] += 1
    for v in filter(None, c.split(",")):
        csids[int(v, 0)] += 1
    for v in filter(None, f.split(",")):
        fmts[int(v, 0)] += 1
print(sum(types.values()))
print(sum(csids.values()))
print(" ".join(f"{k}:{v}" for k, v in sorted(types.items())))
print(" ".join(f"{k}:{v}" for k, v in sorted(csids.items())))
print(" ".join(f"{k}:{v}" for k, v in sorted(fmts.items())))
PY
  ts_types=$(sed -n 1p "$WORK/$name.ts.count")
  ts_msgs=$(sed -n 2p "$WORK/$name.ts.count")
  rs_csids=$(sed -n 3p "$WORK/$name.rs.count"); ts_csids=$(sed -n 4p "$WORK/$name.ts.count")
  if [[ $rs_msgs == "$ts_msgs" && $rs_csids == "$ts_csids" ]]; then agree="yes (in total and per chunk stream)"
  elif [[ $rs_msgs == "$ts_msgs" ]]; then agree="in total only, NOT per chunk stream"
  else agree="NO (rtmpscope - tshark = $((rs_msgs - ts_msgs)))"; fi

  rs_t=$(median_col "$WORK/$name.rs" 1); ts_t=$(median_col "$WORK/$name.ts" 1)
  rs_m=$(max_col "$WORK/$name.rs" 3);    ts_m=$(max_col "$WORK/$name.ts" 3)
  ratio=$(awk -v a="$ts_t" -v b="$rs_t" 'BEGIN {printf "%.1f", a / b}')
  ROWS+=("$(awk -v n="$name" -v s="$size" -v p="$pkts" -v m="$rs_msgs" -v rt="$rs_t" -v tt="$ts_t" -v rm="$rs_m" -v tm="$ts_m" -v r="$ratio" \
    'BEGIN {printf "%-14s %8.1f %8d %8d  %9.3f %8.1f %7.1f  %9.3f %7.1f %7.1f  %8.1fx\n", n, s / 1e6, p, m, rt, s / 1e6 / rt, rm / 1024, tt, s / 1e6 / tt, tm / 1024, r}')")
  ROWS+=("               messages: rtmpscope $rs_msgs, tshark $ts_msgs (csids; $ts_types type ids): agree: $agree")
  ROWS+=("               per csid: rtmpscope $rs_csids | tshark $ts_csids")
  ROWS+=("               per type id: rtmpscope $(sed -n 2p "$WORK/$name.rs.count") | tshark (fmt 0/1 headers only) $(sed -n 3p "$WORK/$name.ts.count")")
  ROWS+=("               tshark's header formats: $(sed -n 5p "$WORK/$name.ts.count"); rtmpscope's other lines: $(sed -n 4p "$WORK/$name.rs.count")")
  ROWS+=("               runs (wall s, %e, %M KB, exit): rtmpscope $(awk '{printf "[%s %s %s %s] ", $1, $2, $3, $4}' "$WORK/$name.rs")")
  ROWS+=("                                             tshark    $(awk '{printf "[%s %s %s %s] ", $1, $2, $3, $4}' "$WORK/$name.ts")")

  goal=""
  case $name in
    *720p*) goal=$TARGET_RATIO_720P ;;
    *240p*) goal=$TARGET_RATIO_240P ;;
  esac
  if [[ -n $goal ]]; then
    TARGETS+=("$(awk -v n="$name" -v r="$ratio" -v g="$goal" 'BEGIN {printf "  %s %s: tshark/rtmpscope %.1fx (target >= %dx)", (r + 0 >= g) ? "ok  " : "MISS", n, r, g}')")
  fi
  TARGETS+=("$(awk -v n="$name" -v m="$rs_m" -v g="$TARGET_RSS_MB" 'BEGIN {printf "  %s %s: rtmpscope peak RSS %.1f MiB (target < %d MB)", (m / 1024 < g) ? "ok  " : "MISS", n, m / 1024, g}')")
  TARGETS+=("$(if [[ $agree == yes* ]]; then echo "  ok  "; else echo "  MISS"; fi) $name: message counts agree ($rs_msgs vs $ts_msgs)")
done

{
  cat "$WORK/header"
  echo
  printf '%-14s %8s %8s %8s  %9s %8s %7s  %9s %8s %7s  %9s\n' "" "" "" "" "rtmpscope" "" "" "tshark" "" "" "speed"
  printf '%-14s %8s %8s %8s  %9s %8s %7s  %9s %8s %7s  %9s\n' capture MB packets messages "median s" "MB/s" "RSS MiB" "median s" "MB/s" "RSS MiB" ratio
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "targets (issue 3):"
  printf '%s\n' "${TARGETS[@]}"
  echo
  echo "commands:"
  printf '  %s\n' "${COMMANDS[@]}"
} | tee "$WORK/report"
mkdir -p "$TARGET_DIR"
cp "$WORK/report" "$TARGET_DIR/bench-vs-tshark.txt"
log "written to $TARGET_DIR/bench-vs-tshark.txt"
