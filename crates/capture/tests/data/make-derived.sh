#!/usr/bin/env bash
# Regenerates the derived captures in this directory from tests/fixtures/ (see README.md).
# Needs root (tcpdump), tcpdump, editcap, mergecap and python3.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX=$(cd "$HERE/../../../../tests/fixtures" && pwd)
PORT=${REPLAY_PORT:-29351}
cd "$HERE"

# Format conversions of real tcpdump captures.
editcap -F pcapng "$FIX/publish-denied.pcap" publish-denied.pcapng
editcap -F nsecpcap "$FIX/publish-denied.pcap" publish-denied.nsec.pcap

# capture IFACE OUT HOST [tcpdump options...]: replays publish-denied's streams
# (or REPLAY=name's) over HOST:PORT while tcpdump captures them.
capture() {
  local iface=$1 out=$2 host=$3; shift 3
  local name=${REPLAY:-publish-denied}
  local log; log=$(mktemp)
  timeout -k 3 60 tcpdump -Z root -i "$iface" --immediate-mode -B 16384 -U "$@" -w "$out" "tcp port $PORT" 2>"$log" &
  local pid=$!
  for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
  sleep 0.3
  timeout 30 python3 "$HERE/replay.py" "$host" "$PORT" "$FIX/$name.c2s" "$FIX/$name.s2c"
  sleep 1
  kill -INT "$pid"; wait "$pid" || true
  grep -q '^0 packets dropped by kernel' "$log" || { cat "$log" >&2; exit 1; }
  rm -f "$log"
}

capture any publish-denied.sll2.pcap 127.0.0.1 -y LINUX_SLL2
capture any publish-denied.sll.pcap 127.0.0.1 -y LINUX_SLL
capture lo publish-denied.ipv6.pcap ::1
REPLAY=rtmpdump-play capture lo rtmpdump-play.snap200.pcap 127.0.0.1 -s 200

# Two interfaces with different link types in one pcapng (Ethernet and SLL2).
mergecap -F pcapng -w two-interfaces.pcapng "$FIX/publish-denied.pcap" publish-denied.sll2.pcap
chmod 644 ./*.pcap ./*.pcapng
