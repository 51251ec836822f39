#!/usr/bin/env python3
"""For every command code chronyd knows (0 until it answers INVALID), find
the request length it expects (the shortest that does not get BADPKTLENGTH)
and whether localhost may send it over UDP (not UNAUTH):
`commands.py UNIX_SOCKET UDP_PORT > commands.txt`. Run it against a
throwaway chronyd -x: each command is carried out once with an all-zero
body. Prints `code length unix udp` where each status is
`reply-type/status/length` (or `dropped`); exits 3 when chronyd went away
(after `shutdown`) so that the caller can restart it and go on from the
next code (third argument)."""
import os
import socket
import struct
import sys

SOCK, PORT = sys.argv[1], int(sys.argv[2])


def ask(data, udp=False):
    if udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target = ("127.0.0.1", PORT)
    else:
        me = os.path.join(os.path.dirname(SOCK), "cmds.%d.sock" % os.getpid())
        try:
            os.unlink(me)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(me)
        os.chmod(me, 0o666)
        target = SOCK
    s.settimeout(1.0)
    try:
        s.sendto(data, target)
        return s.recv(4096)
    except socket.timeout:
        return None
    finally:
        s.close()
        if not udp:
            os.unlink(me)


def req(cmd, length):
    return struct.pack(">BBBBHHIII", 6, 1, 0, 0, cmd, 0, 0x0C0DE000 + cmd, 0, 0) + bytes(length - 20)


def status(reply):
    return "dropped" if reply is None else "%d/%d/%d" % (struct.unpack(">H", reply[6:8])[0], struct.unpack(">H", reply[8:10])[0], len(reply))


for cmd in range(int(sys.argv[3]) if len(sys.argv) > 3 else 0, 80):
    if not os.path.exists(SOCK):
        # The previous command was `shutdown`: the caller restarts chronyd.
        sys.exit(3)
    # The shortest length that is not BADPKTLENGTH (19); the UDP probe is sent
    # first, so that only commands localhost may send are carried out twice.
    length = 28
    while length <= 860:
        r = ask(req(cmd, length), udp=True)
        if r is None or struct.unpack(">H", r[8:10])[0] != 19:
            break
        length += 1
    udp = status(r)
    unix = status(ask(req(cmd, length)))
    print(cmd, length, unix, udp, flush=True)
