#!/usr/bin/env python3
"""Send malformed and edge-case cmdmon requests to a running chronyd and
record what it answers: `probe.py UNIX_SOCKET UDP_PORT > probes.txt`.

Each probe is a block: `## name origin` (origin `unix`, `udp 127.0.0.1`,
`udp ::1`, or `udp 127.0.0.2`, an address cmdallow does not cover), then
`> HEX` for the request and `< HEX` for the reply or `< dropped` when
nothing came back within a second."""
import os
import socket
import struct
import sys

SOCK, PORT = sys.argv[1], int(sys.argv[2])


def unix(data):
    me = os.path.join(os.path.dirname(SOCK), "probe.%d.sock" % os.getpid())
    try:
        os.unlink(me)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(me)
    os.chmod(me, 0o666)  # chronyd runs as _chrony and must be able to answer
    try:
        s.settimeout(1.0)
        s.sendto(data, SOCK)
        try:
            return s.recv(4096)
        except socket.timeout:
            return None
    finally:
        s.close()
        os.unlink(me)


def udp(data, src):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.settimeout(1.0)
    s.sendto(data, (("::1" if fam == socket.AF_INET6 else "127.0.0.1"), PORT))
    try:
        return s.recv(4096)
    except socket.timeout:
        return None
    finally:
        s.close()


SEQ = [0x5EED0000]


def req(cmd, total, body=b"", ver=6, typ=1, res1=0, res2=0, attempt=0, pad1=0, pad2=0, fill=0):
    SEQ[0] += 1
    head = struct.pack(">BBBBHHIII", ver, typ, res1, res2, cmd, attempt, SEQ[0], pad1, pad2)
    data = head + body
    data += bytes([fill]) * max(0, total - len(data))
    return data[:total]


def probe(name, data, origin="unix"):
    reply = unix(data) if origin == "unix" else udp(data, origin.split()[1])
    print("## %s %s" % (name, origin))
    print("> " + data.hex())
    print("< " + ("dropped" if reply is None else reply.hex()))


TRACKING, NULL, SOURCE_DATA, SOURCE_STATS, SERVER_STATS, NTP_DATA, NTP_SOURCE_NAME = 33, 0, 15, 34, 54, 57, 65


def addr(ip, family=None):
    if ":" in ip:
        return socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">HH", family or 2, 0)
    return socket.inet_aton(ip) + bytes(12) + struct.pack(">HH", family or 1, 0)


for n in [0, 1, 4, 19, 20, 27, 28, 103, 104, 105, 416, 860, 861, 1000]:
    probe("tracking-length-%d" % n, req(TRACKING, n))
for v in [0, 1, 2, 3, 4, 5, 7, 255]:
    probe("tracking-version-%d" % v, req(TRACKING, 104, ver=v))
probe("tracking-version-5-length-27", req(TRACKING, 27, ver=5))
probe("tracking-version-5-length-28", req(TRACKING, 28, ver=5))
probe("tracking-version-4-length-28", req(TRACKING, 28, ver=4))
for t in [0, 2, 3, 255]:
    probe("tracking-pkt-type-%d" % t, req(TRACKING, 104, typ=t))
probe("tracking-res1", req(TRACKING, 104, res1=1))
probe("tracking-res2", req(TRACKING, 104, res2=0x80))
probe("tracking-attempt", req(TRACKING, 104, attempt=3))
probe("tracking-header-pad", req(TRACKING, 104, pad1=0xFFFFFFFF, pad2=1))
probe("tracking-nonzero-padding", req(TRACKING, 104, fill=0xA5))
for n in [20, 27, 28]:
    probe("null-length-%d" % n, req(NULL, n))
for c in [72, 100, 65535]:
    probe("unknown-command-%d" % c, req(c, 104))
probe("unknown-command-72-length-20", req(72, 20))
probe("unknown-command-72-length-27", req(72, 27))
probe("unknown-command-72-length-28", req(72, 28))
probe("source-data-index-99", req(SOURCE_DATA, 76, struct.pack(">i", 99)))
probe("source-data-index-minus-1", req(SOURCE_DATA, 76, struct.pack(">i", -1)))
probe("source-data-length-75", req(SOURCE_DATA, 75, struct.pack(">i", 0)))
probe("source-stats-index-99", req(SOURCE_STATS, 84, struct.pack(">i", 99)))
probe("ntp-data-unknown-address", req(NTP_DATA, 200, addr("127.0.0.9")))
probe("ntp-data-family-0", req(NTP_DATA, 200, bytes(20)))
probe("ntp-data-family-3", req(NTP_DATA, 200, addr("127.0.0.2", 3)))
probe("source-name-unknown", req(NTP_SOURCE_NAME, 300, addr("127.0.0.9")))
probe("source-name-length-40", req(NTP_SOURCE_NAME, 40, addr("127.0.0.2")))
for n in [71, 72, 163, 164]:
    probe("server-stats-length-%d" % n, req(SERVER_STATS, n))

# UDP: what localhost may ask, what it may not, and what others get.
for src in ["127.0.0.1", "::1"]:
    o = "udp " + src
    probe("udp-tracking", req(TRACKING, 104), o)
    probe("udp-server-stats", req(SERVER_STATS, 72), o)
probe("udp-server-stats-length-40", req(SERVER_STATS, 40), "udp 127.0.0.1")
probe("udp-server-stats-version-5", req(SERVER_STATS, 72, ver=5), "udp 127.0.0.1")
probe("udp-unknown-command-72", req(72, 104), "udp 127.0.0.1")
probe("udp-null", req(NULL, 28), "udp 127.0.0.1")
probe("udp-tracking-length-40", req(TRACKING, 40), "udp 127.0.0.1")
probe("udp-ntp-data-unknown-address", req(NTP_DATA, 200, addr("127.0.0.9")), "udp 127.0.0.1")
probe("udp-other-host-tracking", req(TRACKING, 104), "udp 127.0.0.2")
probe("udp-other-host-version-5", req(TRACKING, 104, ver=5), "udp 127.0.0.2")
probe("udp-other-host-server-stats", req(SERVER_STATS, 72), "udp 127.0.0.2")
