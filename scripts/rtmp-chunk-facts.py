#!/usr/bin/env python3
"""Summarise the RTMP chunk layer of one direction's raw bytes, and cross-check tshark.

Usage: rtmp-chunk-facts.py STREAM [--tsv NAME.tshark.tsv --conn N --dir c2s|s2c]
                           [--expect-extended] [--expect-crossing]
                           [--expect-chunk-size N] [--expect-continuation-over N]

STREAM is a .c2s or .s2c file from pcap-to-streams.py: C0/S0, C1/S1, C2/S2,
then chunks. This is a deliberately small, separate walker (not rtmpscope's
decoder) used only to check that a fixture shows what it is meant to show.
Rules it follows (RTMP spec 5.3.1):
  - fmt 0 carries an absolute timestamp, fmt 1/2 a delta, fmt 3 none; a fmt 3
    chunk that starts a message reuses its chunk stream's last delta (after a
    fmt 0 header the delta is taken as 0 -- which readings differ is exactly
    what rtmpscope must report, here it only matters for the min/max);
  - 0xFFFFFF in the 24-bit field means a 4-byte extended field follows, and a
    fmt 3 chunk of the same chunk stream repeats those 4 bytes (checked: the
    script reports whether the repeated value equals the header's);
  - Set Chunk Size (type 1) takes effect from the next chunk of that direction.

With --tsv it compares, message by message in completion order, the
(csid, type, length, absolute timestamp) of this walk with tshark's rows for
the same connection and direction and prints where they differ.
The --expect-* options make it exit 1 unless the stream shows that property.
"""

import argparse
import collections
import struct
import sys

HANDSHAKE_LEN = 1 + 1536 + 1536
EXTENDED = 0xFFFFFF


class Walk:
    def __init__(self, data):
        self.data = data
        self.chunk_size = 128
        self.chunk_sizes = []  # (offset, new size)
        self.fmt_counts = collections.Counter()
        self.ext_headers = collections.Counter()  # fmt -> count of 0xFFFFFF
        self.ext_fmt3 = 0  # fmt 3 chunks that carried the 4 repeated bytes
        self.ext_fmt3_equal = 0
        self.ext_fmt3_examples = []
        self.messages = []  # dicts in completion order
        self.max_chunk_payload = 0
        self.continuations_over = collections.Counter()  # chunk size -> fmt 3 continuation count
        self.partial = None
        self.error = None

    def run(self):
        d = self.data
        if len(d) < HANDSHAKE_LEN:
            self.error = "stream shorter than the handshake (%d bytes)" % len(d)
            return
        pos = HANDSHAKE_LEN
        streams = {}
        while pos < len(d):
            start = pos
            b0 = d[pos]
            fmt, csid = b0 >> 6, b0 & 0x3F
            pos += 1
            if csid == 0:
                if pos + 1 > len(d):
                    break
                csid = 64 + d[pos]
                pos += 1
            elif csid == 1:
                if pos + 2 > len(d):
                    break
                csid = 64 + d[pos] + 256 * d[pos + 1]
                pos += 2
            st = streams.setdefault(csid, {
                "ts": 0, "delta": 0, "len": 0, "type": 0, "sid": 0,
                "ext": False, "field": 0, "left": 0, "body": bytearray(), "start": 0})
            hdr_len = (11, 7, 3, 0)[fmt]
            if pos + hdr_len > len(d):
                self.partial = "chunk header at offset %d cut short" % start
                return
            field = None
            if fmt <= 2:
                field = int.from_bytes(d[pos:pos + 3], "big")
            if fmt <= 1:
                st["len"] = int.from_bytes(d[pos + 3:pos + 6], "big")
                st["type"] = d[pos + 6]
            if fmt == 0:
                st["sid"] = struct.unpack("<I", d[pos + 7:pos + 11])[0]
            pos += hdr_len
            self.fmt_counts[fmt] += 1
            ext_value = None
            if fmt <= 2:
                st["ext"] = field == EXTENDED
                if st["ext"]:
                    self.ext_headers[fmt] += 1
                    if pos + 4 > len(d):
                        self.partial = "extended timestamp at offset %d cut short" % pos
                        return
                    ext_value = int.from_bytes(d[pos:pos + 4], "big")
                    st["field"] = ext_value
                    pos += 4
                    field = ext_value
            elif st["ext"]:
                if pos + 4 > len(d):
                    self.partial = "repeated extended timestamp at offset %d cut short" % pos
                    return
                rep = int.from_bytes(d[pos:pos + 4], "big")
                self.ext_fmt3 += 1
                if rep == st["field"]:
                    self.ext_fmt3_equal += 1
                if len(self.ext_fmt3_examples) < 3:
                    self.ext_fmt3_examples.append((start, csid, rep, st["field"], st["left"] > 0))
                pos += 4
            new_message = st["left"] == 0
            if new_message:
                if fmt == 0:
                    st["ts"], st["delta"] = field, 0
                elif fmt in (1, 2):
                    st["delta"] = field
                    st["ts"] = (st["ts"] + field) & 0xFFFFFFFF
                else:
                    st["ts"] = (st["ts"] + st["delta"]) & 0xFFFFFFFF
                st["left"] = st["len"]
                st["body"] = bytearray()
                st["start"] = start
                st["first_fmt"] = fmt
                st["chunks"] = 0
            elif fmt == 3:
                self.continuations_over[self.chunk_size] += 1
            take = min(self.chunk_size, st["left"])
            if pos + take > len(d):
                self.partial = "message on csid %d (type %d, %d bytes) starting at offset %d: %d of %d bytes arrived" % (
                    csid, st["type"], st["len"], st["start"], len(st["body"]) + len(d) - pos, st["len"])
                return
            st["body"].extend(d[pos:pos + take])
            st["chunks"] += 1
            self.max_chunk_payload = max(self.max_chunk_payload, take)
            pos += take
            st["left"] -= take
            if st["left"] == 0:
                msg = {"offset": st["start"], "csid": csid, "type": st["type"], "len": st["len"],
                       "sid": st["sid"], "ts": st["ts"], "fmt": st["first_fmt"], "chunks": st["chunks"]}
                self.messages.append(msg)
                if st["type"] == 1 and st["len"] >= 4:
                    self.chunk_size = struct.unpack(">I", bytes(st["body"][:4]))[0] & 0x7FFFFFFF
                    self.chunk_sizes.append((start, self.chunk_size))
                elif st["type"] == 2 and st["len"] >= 4:
                    aborted = struct.unpack(">I", bytes(st["body"][:4]))[0]
                    if aborted in streams:
                        streams[aborted]["left"] = 0


def read_tsv(path, conn, direction):
    rows = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            if r["conn"] == conn and r["dir"] == direction:
                rows.append(r)
    return rows


def tshark_abs_ts(r):
    """tshark's absolute timestamp for a row, or None when it does not give one."""
    if r["fmt"] == "0":
        return int(r["ext_ts"]) if r["ext_ts"] else int(r["timestamp"])
    return int(r["timestamp"]) if r["timestamp"] else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("--tsv")
    ap.add_argument("--conn", default="0")
    ap.add_argument("--dir")
    ap.add_argument("--expect-extended", action="store_true")
    ap.add_argument("--expect-crossing", action="store_true")
    ap.add_argument("--expect-chunk-size", type=int)
    ap.add_argument("--expect-continuation-over", type=int)
    args = ap.parse_args()

    data = open(args.stream, "rb").read()
    w = Walk(data)
    w.run()
    failures = []
    print("%s: %d bytes" % (args.stream, len(data)))
    if w.error:
        print("  error: " + w.error)
        sys.exit(1)
    c0 = data[0]
    c1_time = struct.unpack(">I", data[1:5])[0]
    c1_ver = data[5:9]
    print("  handshake: version byte %d, C1/S1 time %d, version field %s" % (c0, c1_time, c1_ver.hex()))
    types = collections.Counter(m["type"] for m in w.messages)
    print("  messages: %d (by type: %s)" % (len(w.messages), ", ".join("%d: %d" % kv for kv in sorted(types.items()))))
    print("  chunk headers by fmt: %s" % ", ".join("fmt %d: %d" % kv for kv in sorted(w.fmt_counts.items())))
    print("  chunk sizes set: %s" % (", ".join("%d at offset %d" % (s, o) for o, s in w.chunk_sizes) or "none (128)"))
    if w.messages:
        big = max(w.messages, key=lambda m: m["len"])
        print("  largest message: %d bytes (type %d, csid %d, %d chunks, offset %d); largest chunk payload %d" % (
            big["len"], big["type"], big["csid"], big["chunks"], big["offset"], w.max_chunk_payload))
    if w.continuations_over:
        print("  fmt 3 continuation chunks, by the chunk size in force: %s" % ", ".join(
            "%d: %d" % kv for kv in sorted(w.continuations_over.items())))
    media = [m for m in w.messages if m["type"] in (8, 9)]
    if media:
        lo = min(m["ts"] for m in media)
        hi = max(m["ts"] for m in media)
        below = sum(1 for m in w.messages if m["ts"] < EXTENDED)
        above = len(w.messages) - below
        print("  audio/video timestamps %d..%d ms; messages below 0xFFFFFF: %d, at or above: %d" % (lo, hi, below, above))
        if args.expect_crossing and not (below and above):
            failures.append("no messages on both sides of 0xFFFFFF")
    if w.ext_headers or w.ext_fmt3:
        print("  extended timestamp fields: in headers %s; repeated in %d fmt 3 chunks, %d equal to the header's value" % (
            ", ".join("fmt %d: %d" % kv for kv in sorted(w.ext_headers.items())), w.ext_fmt3, w.ext_fmt3_equal))
        for off, csid, rep, hdr, cont in w.ext_fmt3_examples:
            print("    fmt 3 chunk at offset %d, csid %d: repeated extended timestamp %d (header %d)%s" % (
                off, csid, rep, hdr, " continuing a message" if cont else " starting a message"))
    else:
        print("  extended timestamp fields: none")
    if args.expect_extended and not (w.ext_fmt3 and w.ext_fmt3 == w.ext_fmt3_equal):
        failures.append("no fmt 3 chunk repeating the extended timestamp")
    if args.expect_chunk_size is not None and args.expect_chunk_size not in [s for _, s in w.chunk_sizes]:
        failures.append("no Set Chunk Size %d" % args.expect_chunk_size)
    if args.expect_continuation_over is not None and not w.continuations_over.get(args.expect_continuation_over):
        failures.append("no fmt 3 continuation chunk at chunk size %d" % args.expect_continuation_over)
    if w.partial:
        print("  ends inside a chunk: " + w.partial)
    else:
        print("  ends on a chunk boundary")

    if args.tsv:
        direction = args.dir or ("c2s" if args.stream.endswith(".c2s") else "s2c")
        rows = read_tsv(args.tsv, args.conn, direction)
        mine = [(m["csid"], m["type"], m["len"], m["ts"]) for m in w.messages]
        theirs = [(int(r["csid"]), int(r["type"]) if r["type"] else None,
                   int(r["length"]) if r["length"] else None, tshark_abs_ts(r)) for r in rows]
        # Align the two lists: tshark may drop a message it fails to dissect.
        i = j = 0
        diffs = []
        while i < len(mine) and j < len(theirs):
            a, b = mine[i], theirs[j]
            if a[:3] == b[:3] and (b[3] is None or a[3] == b[3]):
                i += 1
                j += 1
                continue
            if a[:3] == b[:3]:
                diffs.append("message %d (csid %d type %d len %d, offset %d): timestamp %d here, tshark %s (frame %s)" % (
                    i, a[0], a[1], a[2], w.messages[i]["offset"], a[3], b[3], rows[j]["frame"]))
                i += 1
                j += 1
            elif i + 1 < len(mine) and mine[i + 1][:3] == b[:3]:
                diffs.append("message %d (csid %d type %d len %d ts %d, offset %d): missing from tshark's rows" % (
                    i, a[0], a[1], a[2], a[3], w.messages[i]["offset"]))
                i += 1
            else:
                diffs.append("message %d (csid %d type %d len %d): tshark row frame %s differs: %s" % (
                    i, a[0], a[1], a[2], rows[j]["frame"], b))
                i += 1
                j += 1
        for k in range(i, len(mine)):
            diffs.append("message %d (csid %d type %d len %d): missing from tshark's rows" % (k, *mine[k][:3]))
        for k in range(j, len(theirs)):
            diffs.append("tshark row frame %s has no counterpart here" % rows[k]["frame"])
        print("  tshark comparison (conn %s %s): %d messages here, %d tshark rows, %d differences" % (
            args.conn, direction, len(mine), len(rows), len(diffs)))
        for dline in diffs[:20]:
            print("    " + dline)
        if len(diffs) > 20:
            print("    ... %d more" % (len(diffs) - 20))
        no_ts = sum(1 for t in theirs if t[3] is None)
        if no_ts:
            print("    (%d tshark rows give no absolute timestamp: fmt 1/2 with an extended field)" % no_ts)

    for f in failures:
        print("  EXPECTATION FAILED: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
