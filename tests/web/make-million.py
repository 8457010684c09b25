#!/usr/bin/env python3
"""Writes a raw session pair with a million messages, for the table's
scrolling benchmark: the real ffmpeg push of tests/fixtures/ffmpeg-publish
(handshake, connect, publish, media; chunk size 4096), then 1,000,000 more
AAC audio messages on its audio chunk stream (csid 4, message stream 1),
each a fmt 1 chunk (RTMP spec 5.3.1.2.2: delta 23 ms, length 7, type 8).

Usage: make-million.py OUT_PREFIX   (writes OUT_PREFIX.c2s and OUT_PREFIX.s2c)
"""
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIX = ROOT / "tests/fixtures/ffmpeg-publish"
COUNT = 1_000_000

out = Path(sys.argv[1])
out.parent.mkdir(parents=True, exist_ok=True)
shutil.copyfile(FIX.with_suffix(".s2c"), out.with_suffix(".s2c"))
# fmt 1 on csid 4: basic header 0x44, delta 23, length 7, type 8; then an
# AAC raw frame header (0xAF 0x01) and five payload bytes.
msg = bytes([0x44, 0, 0, 23, 0, 0, 7, 8, 0xAF, 0x01, 0x21, 0x10, 0x04, 0x60, 0x8C])
with open(out.with_suffix(".c2s"), "wb") as f:
    f.write(FIX.with_suffix(".c2s").read_bytes())
    f.write(msg * COUNT)
