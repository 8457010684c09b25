#!/usr/bin/env bash
# Runs the throughput benchmark (crates/core/benches/throughput.rs) and prints
# a table: per stream, each decoder's GB/s, millions of messages per second
# and throughput relative to the memcpy anchor, then the project's targets.
# Makes the benchmark data first if bench-data/ lacks it.
#
#   bash scripts/bench.sh               everything (a few minutes)
#   bash scripts/bench.sh small_240p    extra arguments go to criterion (a filter here)
set -euo pipefail
cd "$(dirname "$0")/.."

export RTMPSCOPE_BENCH_DATA=${RTMPSCOPE_BENCH_DATA:-$PWD/bench-data}
# Kept in step with STREAMS in crates/core/benches/throughput.rs.
FILES=(publish-720p-18M.c2s publish-240p.c2s)

missing=0
for f in "${FILES[@]}"; do
  [[ -s $RTMPSCOPE_BENCH_DATA/$f ]] || missing=1
done
if [[ $missing == 1 ]]; then
  echo "== making the benchmark data (scripts/make-bench-data.sh)"
  bash scripts/make-bench-data.sh
fi

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

echo "== cargo bench -p rtmpscope-core --bench throughput"
timeout 3600 cargo bench -p rtmpscope-core --bench throughput -- \
  --warm-up-time 1 --measurement-time 3 "$@" | tee "$LOG"

echo
python3 - "$LOG" "$TARGET_DIR/criterion" <<'EOF'
import json, os, re, sys

log, root = sys.argv[1], sys.argv[2]
# "counts GROUP messages=N bytes=N chunk_bytes=N ..." lines printed by the bench.
counts = {}
# "interleaved GROUP rounds=N name=ns ...": the decoders timed in alternation.
interleaved = {}
for line in open(log):
    if line.startswith("counts "):
        words = line.split()
        counts[words[1]] = {k: int(v) for k, v in (w.split("=") for w in words[2:])}
    if line.startswith("interleaved "):
        words = line.split()
        interleaved[words[1]] = {k: float(v) for k, v in (w.split("=") for w in words[2:])}
if not counts:
    sys.exit("no benchmark ran (is the data missing?)")

ORDER = ["memcpy", "rtmpscope_chunks", "rtmpscope_full", "rml_rtmp", "scuffle_rtmp"]
results = {}
for group, c in counts.items():
    gdir = os.path.join(root, group)
    if not os.path.isdir(gdir):
        continue
    print(f"{group}: {c['messages']} messages, {c['bytes'] / 1e6:.1f} MB, "
          f"{c['bytes'] / c['messages'] / 1e3:.2f} KB/message")
    print(f"  {'name':<18}{'time us':>10}{'GB/s':>9}{'M msg/s':>10}{'vs memcpy':>11}")
    rows = {}
    for name in sorted(os.listdir(gdir), key=lambda n: ORDER.index(n) if n in ORDER else 99):
        new = os.path.join(gdir, name, "new")
        try:
            est = json.load(open(os.path.join(new, "estimates.json")))
            meta = json.load(open(os.path.join(new, "benchmark.json")))
        except OSError:
            continue
        # Flat sampling has no slope; criterion then reports the mean.
        ns = (est.get("slope") or est["mean"])["point_estimate"]
        nbytes = (meta.get("throughput") or {}).get("Bytes", c["bytes"])
        rows[name] = {"ns": ns, "gbs": nbytes / ns, "mps": c["messages"] / ns * 1e3}
    anchor = rows.get("memcpy")
    for name, r in rows.items():
        ratio = f"{r['gbs'] / anchor['gbs']:.3f}" if anchor else "-"
        mps = "-" if name == "memcpy" else f"{r['mps']:.2f}"
        print(f"  {name:<18}{r['ns'] / 1e3:>10.1f}{r['gbs']:>9.3f}{mps:>10}{ratio:>11}")
    results[group] = rows
    if group in interleaved:
        il = interleaved[group]
        print(f"  interleaved, best of {int(il['rounds'])} alternating rounds (the targets use these):")
        # The whole stream for the session; the chunk part for the others (as above).
        size = lambda n: c["bytes"] if n == "rtmpscope_full" else c["chunk_bytes"]
        results[group] = {n: {"ns": il[n], "gbs": size(n) / il[n], "mps": c["messages"] / il[n] * 1e3}
                          for n in ORDER if n in il}
        for name, r in results[group].items():
            print(f"  {name:<18}{r['ns'] / 1e3:>10.1f}{r['gbs']:>9.3f}{r['mps']:>10.2f}")
    print()

def target(what, value, goal, higher=True):
    ok = value >= goal if higher else value <= goal
    sign = ">=" if higher else "<="
    print(f"  {'ok  ' if ok else 'MISS'} {what}: {value:.2f}x (target {sign} {goal}x)")

print("targets:")
for group, rows in results.items():
    chunks, full = rows.get("rtmpscope_chunks"), rows.get("rtmpscope_full")
    rml, scuffle = rows.get("rml_rtmp"), rows.get("scuffle_rtmp")
    if group.startswith("large") and rml:
        for name in ("rtmpscope_chunks", "rtmpscope_full"):
            if name in rows:
                target(f"{group} {name} bytes/s vs rml_rtmp", rows[name]["gbs"] / rml["gbs"], 1.5)
    if group.startswith("small") and scuffle:
        for name in ("rtmpscope_chunks", "rtmpscope_full"):
            if name in rows:
                target(f"{group} {name} msgs/s vs scuffle_rtmp", rows[name]["mps"] / scuffle["mps"], 1.5)
    if chunks and full:
        target(f"{group} rtmpscope_full time vs rtmpscope_chunks", full["ns"] / chunks["ns"], 1.3, higher=False)
EOF
