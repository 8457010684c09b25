#!/usr/bin/env python3
"""Write tshark's decoding of every RTMP message in a capture as one TSV row each.

Usage: tshark-rtmp-tsv.py CAPTURE.pcap PORT OUT.tsv

Runs `tshark -r CAPTURE -d tcp.port==PORT,rtmpt -o rtmpt.max_packet_size:1048576
-T pdml` and flattens the RTMP messages it shows, in capture order: tshark
shows a message in the frame where its last chunk arrives, so a message
interleaved with another one on a different chunk stream comes after any
message that finishes earlier. PORT is the server's port: a segment from
it is s2c, any other c2s.

Columns (an empty cell means tshark showed no such field for the message):
  frame      frame number (1-based) of the TCP segment that completed the message
  conn       connection number: tcp.stream, i.e. the order of first appearance
             (the order of the SYNs when every connection starts in the capture)
  dir        c2s (client to server) or s2c
  fmt        chunk header format (0-3) of the message's first chunk
  csid       chunk stream id
  type       message type id, decimal: from the header (fmt 0/1), else from the
             message name tshark shows (it carries the type over for fmt 2/3)
  stream_id  message stream id; tshark shows it only for fmt 0 headers
  length     message body length: from the header (fmt 0/1), else the size
             of the body tshark reassembled
  timestamp  tshark's rtmpt.header.timestamp: for fmt 0 the raw 24-bit header
             field (16777215 when the extended field follows), for fmt 1/2/3
             the absolute timestamp tshark calculated from the deltas (absent
             when the header had an extended timestamp, see ext_ts)
  delta      the raw 24-bit timestamp delta field of a fmt 1/2 header
  ext_ts     the 4-byte extended timestamp field, when the header has one
  command    first AMF0 string of a command (17/20) or data (15/18) message,
             escaped as in strings except that '|' stays
  strings    every AMF string value in the body (property names left out),
             '|'-separated, bytes outside printable ASCII and '\\' '|' escaped as \\xNN
  info       protocol control and media details: chunk_size=, ack=, window=,
             bandwidth=,limit=, abort_csid=, event=, audio=0xNN, video=0xNN (tag byte)

A summary (message counts, and tshark's malformed-packet and dissector-bug
reports, with frame numbers) goes to standard output.
"""

import collections
import subprocess
import sys
import xml.etree.ElementTree as ET

COLUMNS = ["frame", "conn", "dir", "fmt", "csid", "type", "stream_id", "length",
           "timestamp", "delta", "ext_ts", "command", "strings", "info"]

COMMAND_TYPES = {15, 17, 18, 20}

# tshark's message names (the text in "Real Time Messaging Protocol (...)"),
# from packet-rtmpt.c's rtmpt_opcode_vals.
TYPE_BY_NAME = {
    "Set Chunk Size": 1, "Abort Message": 2, "Acknowledgement": 3,
    "User Control Message": 4, "Window Acknowledgement Size": 5,
    "Set Peer Bandwidth": 6, "Audio Data": 8, "Video Data": 9,
    "AMF3 Data": 15, "AMF3 Shared Object": 16, "AMF3 Command": 17,
    "AMF0 Data": 18, "AMF0 Shared Object": 19, "AMF0 Command": 20,
    "Aggregate": 22,
}


def type_from_summary(showname):
    """Type id from 'Real Time Messaging Protocol (AMF0 Data @setDataFrame())'."""
    start = showname.find("(")
    if start < 0:
        return None
    text = showname[start + 1:]
    best = None
    for name, type_id in TYPE_BY_NAME.items():
        if text.startswith(name) and (best is None or len(name) > len(best[0])):
            best = (name, type_id)
    return None if best is None else best[1]


def escape(raw, specials=(0x5C, 0x7C)):
    out = []
    for b in raw:
        if 0x20 <= b < 0x7F and b not in specials:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


def field_value(elem, name):
    for f in elem.iter("field"):
        if f.get("name") == name:
            return f
    return None


def amf_string_values(body):
    """AMF string values in document order, skipping property names.

    tshark puts a property name under a field shown as 'Name: ...' whose
    children are amf.stringlength and amf.string; values sit under a field
    that also has amf.amf0_type.
    """
    values = []

    def walk(node, under_name):
        for child in node:
            if child.tag != "field":
                continue
            show = child.get("show", "")
            is_name = child.get("name") == "" and show.startswith("Name: ")
            if child.get("name") in ("amf.string", "amf.longstring") and not under_name:
                values.append(bytes.fromhex(child.get("value", "")))
            walk(child, under_name or is_name)

    walk(body, False)
    return values


def text_of(elem, name, attr="show"):
    f = field_value(elem, name)
    return None if f is None else f.get(attr)


def message_row(frame, conn, direction, proto):
    header = body = None
    for child in proto:
        if child.tag == "field" and child.get("show") == "RTMP Header":
            header = child
        elif child.tag == "field" and child.get("show") == "RTMP Body":
            body = child
    if header is None:
        return None  # handshake, or a segment tshark did not decode

    def h(name):
        return text_of(header, name) or ""

    # The calculated timestamp of a fmt 1/2/3 header is a generated field
    # with the same name as the raw fmt 0 one.
    type_show = h("rtmpt.header.typeid")
    type_id = int(type_show, 16) if type_show.startswith("0x") else (int(type_show) if type_show else None)
    if type_id is None:
        type_id = type_from_summary(proto.get("showname", ""))
    row = {
        "frame": str(frame),
        "conn": conn,
        "dir": direction,
        "fmt": h("rtmpt.header.format"),
        "csid": h("rtmpt.header.csid"),
        "type": "" if type_id is None else str(type_id),
        "stream_id": h("rtmpt.header.streamid"),
        "length": h("rtmpt.header.bodysize"),
        "timestamp": h("rtmpt.header.timestamp"),
        "delta": h("rtmpt.header.timestampdelta"),
        "ext_ts": h("rtmpt.header.ets"),
        "command": "",
        "strings": "",
        "info": "",
    }
    if body is None:
        return row
    if not row["length"]:
        row["length"] = body.get("size", "")
    strings = amf_string_values(body)
    if type_id in COMMAND_TYPES:
        if strings:
            row["command"] = escape(strings[0], specials=(0x5C,))
        row["strings"] = "|".join(escape(s) for s in strings)
    info = []
    for name, label in (("rtmpt.scm.chunksize", "chunk_size"), ("rtmpt.scm.csid", "abort_csid"),
                        ("rtmpt.scm.seq", "ack"), ("rtmpt.scm.was", "window"),
                        ("rtmpt.scm.limittype", "limit"), ("rtmpt.ucm.eventtype", "event")):
        v = text_of(body, name)
        if v is not None:
            if type_id == 6 and label == "window":
                label = "bandwidth"
            info.append("%s=%s" % (label, v))
    for name, label in (("rtmpt.audio.control", "audio"), ("rtmpt.video.control", "video")):
        v = text_of(body, name, "value")
        if v is not None:
            info.append("%s=0x%s" % (label, v))
    row["info"] = ",".join(info)
    return row


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1])
    pcap, port, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    cmd = ["tshark", "-r", pcap, "-d", "tcp.port==%s,rtmpt" % port,
           "-o", "rtmpt.max_packet_size:1048576", "-T", "pdml"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    rows = []
    problems = []
    for _event, packet in ET.iterparse(proc.stdout, events=("end",)):
        if packet.tag != "packet":
            continue
        frame = conn = srcport = None
        for proto in packet.findall("proto"):
            pname = proto.get("name")
            if pname == "frame":
                frame = int(text_of(proto, "frame.number"))
            elif pname == "tcp":
                conn = text_of(proto, "tcp.stream")
                srcport = text_of(proto, "tcp.srcport")
            elif pname == "rtmpt":
                direction = "s2c" if srcport == port else "c2s"
                row = message_row(frame, conn, direction, proto)
                if row is not None:
                    rows.append(row)
            if pname in ("_ws.malformed", "_ws.expert") or pname == "rtmpt":
                for f in proto.iter("field"):
                    show = f.get("show", "") or f.get("showname", "")
                    if (f.get("name") in ("_ws.malformed", "_ws.malformed.dissector_bug",
                                          "_ws.malformed.expert")
                            or "Dissector bug" in show or "Malformed" in show):
                        problems.append("frame %s: %s" % (frame, show or f.get("name")))
                if pname == "_ws.malformed":
                    problems.append("frame %s: %s" % (frame, proto.get("showname", "malformed packet")))
        packet.clear()
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        sys.exit("tshark failed: %s" % err)

    with open(out_path, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(row[c] for c in COLUMNS) + "\n")

    counts = collections.Counter((r["conn"], r["dir"], r["type"]) for r in rows)
    print("tshark messages: %d" % len(rows))
    for (conn, direction, type_id), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1], int(kv[0][2] or 0))):
        print("  conn %s %s type %s: %d" % (conn, direction, type_id, n))
    # tshark reports one problem several times (expert info, malformed
    # marker, the assertion text): keep one line per frame, the most telling.
    by_frame = collections.OrderedDict()
    for p in problems:
        frame, _, text = p.partition(": ")
        best = by_frame.get(frame)
        if best is None or ("[" in text and "[" not in best):
            by_frame[frame] = text
    print("tshark problems: %d" % len(by_frame))
    for frame, text in by_frame.items():
        print("  %s: %s" % (frame, text))
    for line in err.splitlines():
        if line.strip() and "Running as user" not in line:
            print("tshark stderr: " + line)


if __name__ == "__main__":
    main()
