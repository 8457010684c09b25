#!/usr/bin/env python3
"""Write the raw bytes of each direction of each TCP connection in a pcap.

Usage: pcap-to-streams.py CAPTURE.pcap OUTPREFIX [--port PORT] [--verify]

For one connection it writes OUTPREFIX.c2s and OUTPREFIX.s2c; for several it
writes OUTPREFIX.N.c2s and OUTPREFIX.N.s2c, N counting from 0 in the order of
the connections' SYNs. "c2s" is the direction of the side that sent the SYN.
Each file starts with the first payload byte after the SYN (for RTMP: C0 or
S0) and holds every payload byte once, in sequence order: retransmitted and
overlapping segments are folded in, and a hole in the sequence space is an
error (the file would no longer be the bytes the peer received).

--port keeps only connections with PORT at either end.
--verify compares every written stream with tshark's own reassembly
(`tshark -qz follow,tcp,raw,N`), as a check independent of this script.

Reads classic pcap (either byte order, micro- or nanosecond timestamps) with
link types EN10MB, LINUX_SLL, LINUX_SLL2, NULL, LOOP and RAW; IPv4 and IPv6.
Standard library only.
"""

import argparse
import struct
import subprocess
import sys

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_OLD = 12
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN = (0x8100, 0x88A8)

IPPROTO_TCP = 6

TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_ACK = 0x10


class PcapError(Exception):
    pass


def read_pcap(path):
    """Yield (linktype, timestamp, packet bytes) for each record."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise PcapError("file shorter than a pcap global header")
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, ts_div = "<", 1e6
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, ts_div = ">", 1e6
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, ts_div = "<", 1e9
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, ts_div = ">", 1e9
    elif magic == b"\x0a\x0d\x0d\x0a":
        raise PcapError("pcapng is not supported; convert with: editcap -F pcap IN OUT")
    else:
        raise PcapError("not a pcap file (magic %s)" % magic.hex())
    (_vmaj, _vmin, _zone, _sigfigs, _snaplen, linktype) = struct.unpack(endian + "HHiIII", data[4:24])
    linktype &= 0x0FFFFFFF
    pos = 24
    index = 0
    while pos < len(data):
        if pos + 16 > len(data):
            raise PcapError("record %d: truncated record header at offset %d" % (index + 1, pos))
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        if pos + incl > len(data):
            raise PcapError("record %d: truncated packet at offset %d" % (index + 1, pos))
        if incl < orig:
            raise PcapError("record %d: packet cut by the snapshot length (%d of %d bytes)" % (index + 1, incl, orig))
        index += 1
        yield index, linktype, sec + frac / ts_div, data[pos:pos + incl]
        pos += incl


def network_layer(linktype, pkt):
    """Return (ethertype, bytes from the network header on) or None."""
    if linktype == LINKTYPE_EN10MB:
        if len(pkt) < 14:
            return None
        etype = struct.unpack(">H", pkt[12:14])[0]
        off = 14
        while etype in ETHERTYPE_VLAN and len(pkt) >= off + 4:
            etype = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
        return etype, pkt[off:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(pkt) < 16:
            return None
        return struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(pkt) < 20:
            return None
        return struct.unpack(">H", pkt[0:2])[0], pkt[20:]
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(pkt) < 4:
            return None
        # NULL is in the capturing host's byte order, LOOP in network order;
        # accept either. AF_INET is 2 everywhere, AF_INET6 is 10/24/28/30.
        fam = struct.unpack("<I", pkt[:4])[0]
        if fam > 0xFFFF:
            fam = struct.unpack(">I", pkt[:4])[0]
        if fam == 2:
            return ETHERTYPE_IPV4, pkt[4:]
        if fam in (10, 24, 28, 30):
            return ETHERTYPE_IPV6, pkt[4:]
        return None
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD):
        if not pkt:
            return None
        version = pkt[0] >> 4
        return (ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6), pkt
    raise PcapError("unsupported link type %d" % linktype)


def tcp_segment(linktype, pkt):
    """Return (src, dst, sport, dport, seq, flags, payload) or None."""
    net = network_layer(linktype, pkt)
    if net is None:
        return None
    etype, ip = net
    if etype == ETHERTYPE_IPV4:
        if len(ip) < 20:
            return None
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        frag = struct.unpack(">H", ip[6:8])[0]
        if ip[9] != IPPROTO_TCP or frag & 0x3FFF:
            return None  # not TCP, or a fragment (never on loopback)
        src, dst = ip[12:16], ip[16:20]
        tcp = ip[ihl:total]
    elif etype == ETHERTYPE_IPV6:
        if len(ip) < 40 or ip[6] != IPPROTO_TCP:
            return None  # extension headers are not followed
        plen = struct.unpack(">H", ip[4:6])[0]
        src, dst = ip[8:24], ip[24:40]
        tcp = ip[40:40 + plen]
    else:
        return None
    if len(tcp) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", tcp[:8])
    doff = (tcp[12] >> 4) * 4
    flags = tcp[13]
    return src, dst, sport, dport, seq, flags, tcp[doff:]


def addr_str(ip, port):
    if len(ip) == 4:
        return "%s:%d" % (".".join(str(b) for b in ip), port)
    groups = ":".join("%x" % struct.unpack(">H", ip[i:i + 2])[0] for i in range(0, 16, 2))
    return "[%s]:%d" % (groups, port)


class Direction:
    """One direction of a TCP connection: its segments by sequence number."""

    def __init__(self):
        self.isn = None  # sequence number of the SYN
        self.segments = []  # (relative offset of the first payload byte, bytes)
        self.fin = False
        self.rst = False

    def add(self, seq, flags, payload):
        self.fin |= bool(flags & TCP_FIN)
        self.rst |= bool(flags & TCP_RST)
        if flags & TCP_SYN:
            self.isn = seq
            return
        if payload and self.isn is not None:
            rel = (seq - self.isn - 1) & 0xFFFFFFFF
            self.segments.append((rel, payload))

    def reassemble(self):
        """Return (bytes, holes) where holes lists (offset, length) of missing ranges."""
        out = bytearray()
        holes = []
        # Stable sort: for equal offsets the first-captured copy comes first.
        for rel, payload in sorted(self.segments, key=lambda s: s[0]):
            end = rel + len(payload)
            if end <= len(out):
                continue  # retransmission of bytes already taken
            if rel > len(out):
                holes.append((len(out), rel - len(out)))
                out.extend(b"\0" * (rel - len(out)))
            out.extend(payload[len(out) - rel:])
        return bytes(out), holes


class Connection:
    def __init__(self, number, client, server, first_frame):
        self.number = number
        self.client = client  # (ip bytes, port)
        self.server = server
        self.first_frame = first_frame
        self.c2s = Direction()
        self.s2c = Direction()


def collect(path, port=None):
    conns = []
    by_key = {}
    for frame, linktype, _ts, pkt in read_pcap(path):
        seg = tcp_segment(linktype, pkt)
        if seg is None:
            continue
        src, dst, sport, dport, seq, flags, payload = seg
        if port is not None and port not in (sport, dport):
            continue
        a, b = (src, sport), (dst, dport)
        key = (a, b) if a <= b else (b, a)
        conn = by_key.get(key)
        if flags & TCP_SYN and not flags & TCP_ACK:
            if conn is None or conn.c2s.isn is not None and conn.c2s.isn != seq:
                # A new connection (or the 4-tuple reused after a close).
                conn = Connection(len(conns), a, b, frame)
                conns.append(conn)
                by_key[key] = conn
        if conn is None:
            continue  # a connection already open when the capture started
        direction = conn.c2s if (a == conn.client) else conn.s2c
        direction.add(seq, flags, payload)
    return conns


def tshark_follow(path, stream_index):
    """Return (client bytes, server bytes) as tshark reassembles tcp.stream N."""
    out = subprocess.run(
        ["tshark", "-r", path, "-qz", "follow,tcp,raw,%d" % stream_index],
        check=True, capture_output=True, text=True).stdout
    c2s, s2c = bytearray(), bytearray()
    in_body = False
    for line in out.splitlines():
        if line.startswith("Node 1:"):
            in_body = True
            continue
        if not in_body or line.startswith("====="):
            continue
        if line.startswith("\t"):
            s2c.extend(bytes.fromhex(line.strip()))
        elif line.strip():
            c2s.extend(bytes.fromhex(line.strip()))
    return bytes(c2s), bytes(s2c)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("outprefix")
    ap.add_argument("--port", type=int)
    ap.add_argument("--verify", action="store_true", help="compare with tshark's follow,tcp,raw")
    args = ap.parse_args()

    try:
        conns = collect(args.pcap, args.port)
    except PcapError as e:
        sys.exit("%s: %s" % (args.pcap, e))
    if not conns:
        sys.exit("%s: no TCP connection with a SYN%s" % (
            args.pcap, "" if args.port is None else " on port %d" % args.port))

    failed = False
    for conn in conns:
        prefix = args.outprefix if len(conns) == 1 else "%s.%d" % (args.outprefix, conn.number)
        streams = {}
        for name, direction in (("c2s", conn.c2s), ("s2c", conn.s2c)):
            data, holes = direction.reassemble()
            if holes:
                failed = True
                print("%s.%s: %d missing byte range(s), first at offset %d (%d bytes)" % (
                    prefix, name, len(holes), holes[0][0], holes[0][1]), file=sys.stderr)
            with open("%s.%s" % (prefix, name), "wb") as f:
                f.write(data)
            streams[name] = data
        def ending(d):
            return "+".join(n for n, f in (("FIN", d.fin), ("RST", d.rst)) if f) or "no FIN/RST"
        print("connection %d (SYN in frame %d): client %s, server %s: c2s %d bytes (%s), s2c %d bytes (%s)" % (
            conn.number, conn.first_frame, addr_str(*conn.client), addr_str(*conn.server),
            len(streams["c2s"]), ending(conn.c2s), len(streams["s2c"]), ending(conn.s2c)))
        if args.verify:
            # tshark numbers every TCP conversation it sees, with or without a
            # SYN, so map by the frame of the SYN rather than by our index.
            idx = subprocess.run(
                ["tshark", "-r", args.pcap, "-Y", "frame.number==%d" % conn.first_frame,
                 "-T", "fields", "-e", "tcp.stream"],
                check=True, capture_output=True, text=True).stdout.strip()
            t_c2s, t_s2c = tshark_follow(args.pcap, int(idx))
            for name, mine, theirs in (("c2s", streams["c2s"], t_c2s), ("s2c", streams["s2c"], t_s2c)):
                if mine != theirs:
                    failed = True
                    print("  VERIFY FAILED %s: ours %d bytes, tshark tcp.stream %s %d bytes" % (
                        name, len(mine), idx, len(theirs)), file=sys.stderr)
                else:
                    print("  verified %s against tshark follow,tcp,raw,%s (%d bytes)" % (name, idx, len(theirs)))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
