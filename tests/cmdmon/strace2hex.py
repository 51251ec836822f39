#!/usr/bin/env python3
"""Turn `strace -xx -e trace=sendto,recvfrom` output of one chronyc run into
request/reply lines: `> HEX` for each datagram sent to chronyd, `< HEX` for
each one received. Only the command socket's traffic (the first socket that
sends a cmdmon request, version 6 type 1) is kept."""
import re
import sys

CALL = re.compile(r'^(?:\d+\s+)?(sendto|recvfrom|send|recv)\((\d+), "((?:\\x[0-9a-f]{2})*)"(\.\.\.)?, \d+.*\) = (\d+)')

def main(path):
    fd = None
    for line in open(path):
        m = CALL.match(line)
        if not m:
            continue
        call, sock, data, cut, ret = m.groups()
        if cut:
            sys.exit("strace cut a datagram short: raise -s")
        raw = bytes(int(h, 16) for h in data.split("\\x")[1:])
        if fd is None:
            if call.startswith("send") and raw[:2] == b"\x06\x01":
                fd = sock
            else:
                continue
        if sock != fd:
            continue
        if len(raw) != int(ret):
            sys.exit("length mismatch in " + line)
        print(("> " if call.startswith("send") else "< ") + raw.hex())

main(sys.argv[1])
