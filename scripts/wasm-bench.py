#!/usr/bin/env python3
"""Helper of scripts/wasm-bench.sh (Python 3 standard library only).

  wasm-bench.py serve --page DIR --wasm FILE --data DIR --port-file F --out F [--timeout S]
      Serves the benchmark page on 127.0.0.1 (a free port, written to
      --port-file once listening): / and the page's files from --page, the
      module as /rtmpscope_wasm_bench.wasm, and /data/NAME from --data (plain
      names only). Waits for the page to POST its figures to /result, writes
      them to --out and exits: 0 on figures, 1 if the page reported an error,
      2 if nothing came within --timeout seconds.

  wasm-bench.py report --wasm F --native F --out F
      Checks that both runs counted the same messages, prints the table
      (MB/s and messages/s, median over the samples, and native/wasm) and
      writes everything to --out as JSON. Exits 1 on a count mismatch.
"""

import argparse
import http.server
import json
import os
import statistics
import sys
import threading

# The target: the wasm32 build within 2x of native.
TARGET_RATIO = 2.0

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".wasm": "application/wasm",
}


def serve(args):
    result = {}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            sys.stderr.write("wasm-bench.py: %s\n" % (fmt % a))

        def send_file(self, path, ctype):
            try:
                f = open(path, "rb")
            except OSError:
                self.send_error(404)
                return
            with f:
                size = os.fstat(f.fileno()).st_size
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(size))
                self.send_header("Cache-Control", "no-store")
                # Cross-origin isolation gives performance.now() 5 us
                # resolution instead of 100 us.
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.end_headers()
                while True:
                    block = f.read(1 << 20)
                    if not block:
                        break
                    self.wfile.write(block)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self.send_file(os.path.join(args.page, "index.html"), TYPES[".html"])
            elif path == "/bench.js":
                self.send_file(os.path.join(args.page, "bench.js"), TYPES[".js"])
            elif path == "/rtmpscope_wasm_bench.wasm":
                self.send_file(args.wasm, TYPES[".wasm"])
            elif path.startswith("/data/"):
                name = path[len("/data/"):]
                if not name or "/" in name or "%" in name or name.startswith("."):
                    self.send_error(404)
                    return
                self.send_file(os.path.join(args.data, name), "application/octet-stream")
            else:
                self.send_error(404)

        def do_POST(self):
            if self.path != "/result":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            try:
                value = json.loads(body)
            except ValueError as e:
                value = {"error": "unreadable result: %s" % e}
            self.send_response(204)
            self.end_headers()
            if not done.is_set():
                result["value"] = value
                done.set()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port_tmp = args.port_file + ".tmp"
    with open(port_tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(port_tmp, args.port_file)

    got = done.wait(args.timeout)
    server.shutdown()
    server.server_close()
    if not got:
        print("wasm-bench.py: no result from the page within %g s" % args.timeout, file=sys.stderr)
        return 2
    value = result["value"]
    with open(args.out, "w") as f:
        json.dump(value, f)
    if "error" in value:
        print("wasm-bench.py: the page failed: %s" % value["error"], file=sys.stderr)
        return 1
    return 0


def figures(timing):
    ms = statistics.median(timing["ms"])
    return {
        "bytes": timing["bytes"],
        "messages": timing["messages"],
        "median_ms": ms,
        "min_ms": min(timing["ms"]),
        "max_ms": max(timing["ms"]),
        "mb_per_s": timing["bytes"] / ms / 1e3,
        "messages_per_s": timing["messages"] / ms * 1e3,
    }


def report(args):
    with open(args.wasm) as f:
        wasm = json.load(f)
    with open(args.native) as f:
        native = json.load(f)
    native_files = {entry["file"]: entry for entry in native["files"]}
    rows, mismatches = [], []
    for w in wasm["files"]:
        n = native_files.get(w["file"])
        if n is None:
            mismatches.append("%s: no native run" % w["file"])
            continue
        for workload in ("full", "chunks"):
            wf, nf = figures(w[workload]), figures(n[workload])
            if wf["messages"] != nf["messages"]:
                mismatches.append("%s %s: wasm counted %d messages, native %d"
                                  % (w["file"], workload, wf["messages"], nf["messages"]))
            rows.append({
                "file": w["file"],
                "workload": workload,
                "iterations": w["iterations"],
                "wasm": wf,
                "native": nf,
                "ratio": wf["median_ms"] / nf["median_ms"],
            })

    print("wasm: %s" % wasm.get("user_agent", "?"))
    print("native: %s; piece %d bytes; median of %d samples after %d warm-up ones"
          % (native.get("target", "?"), native["piece"], native["samples"], native["warmup"]))
    print()
    head = ("%-22s %-7s %9s %10s %12s %10s %12s %8s"
            % ("file", "work", "messages", "wasm MB/s", "wasm msg/s",
               "nat. MB/s", "nat. msg/s", "nat/wasm"))
    print(head)
    print("-" * len(head))
    for r in rows:
        print("%-22s %-7s %9d %10.1f %12.0f %10.1f %12.0f %7.2fx %s"
              % (r["file"], r["workload"], r["native"]["messages"],
                 r["wasm"]["mb_per_s"], r["wasm"]["messages_per_s"],
                 r["native"]["mb_per_s"], r["native"]["messages_per_s"], r["ratio"],
                 "ok" if r["ratio"] <= TARGET_RATIO else "MISS"))
    print()
    print("target: wasm32 within %gx of native (native/wasm speed <= %g)" % (TARGET_RATIO, TARGET_RATIO))
    for m in mismatches:
        print("MISMATCH " + m)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({
            "target_ratio": TARGET_RATIO,
            "rows": rows,
            "counts_match": not mismatches,
            "mismatches": mismatches,
            "wasm_run": wasm,
            "native_run": native,
        }, f, indent=1)
        f.write("\n")
    print("written: %s" % args.out)
    return 1 if mismatches else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--page", required=True)
    s.add_argument("--wasm", required=True)
    s.add_argument("--data", required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--timeout", type=float, default=180)
    r = sub.add_parser("report")
    r.add_argument("--wasm", required=True)
    r.add_argument("--native", required=True)
    r.add_argument("--out", required=True)
    args = parser.parse_args()
    return serve(args) if args.command == "serve" else report(args)


if __name__ == "__main__":
    sys.exit(main())
