#!/usr/bin/env python3
"""Replays the two byte streams of a recorded TCP connection over a real TCP
connection on this host, so that tcpdump can capture them again with other
link types, address families or snapshot lengths.

Usage: replay.py HOST PORT C2S_FILE S2C_FILE

The server sends S2C while the client sends C2S (in 4 KiB writes), each side
then shuts down its sending half and reads to the end. Standard library only.
"""

import socket
import sys
import threading


def send_all(sock, data):
    for i in range(0, len(data), 4096):
        sock.sendall(data[i:i + 4096])
    sock.shutdown(socket.SHUT_WR)


def read_all(sock):
    got = bytearray()
    while True:
        b = sock.recv(65536)
        if not b:
            return bytes(got)
        got.extend(b)


def main():
    host, port, c2s_path, s2c_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    c2s = open(c2s_path, "rb").read()
    s2c = open(s2c_path, "rb").read()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    result = {}

    def serve():
        conn, _ = listener.accept()
        sender = threading.Thread(target=send_all, args=(conn, s2c))
        sender.start()
        result["c2s"] = read_all(conn)
        sender.join()
        conn.close()

    server = threading.Thread(target=serve)
    server.start()
    client = socket.create_connection((host, port))
    sender = threading.Thread(target=send_all, args=(client, c2s))
    sender.start()
    result["s2c"] = read_all(client)
    sender.join()
    client.close()
    server.join()
    listener.close()
    if result["c2s"] != c2s or result["s2c"] != s2c:
        sys.exit("replay: the bytes received differ from the bytes sent")


if __name__ == "__main__":
    main()
