#!/usr/bin/env python3
# test/load/fakepg.py: a stand-in PostgreSQL server that only asks for a
# password, for the password tests of test/load/run.sh.
#
#   python3 fakepg.py SOCKET_DIR PORT LOG
#
# Listens on SOCKET_DIR/.s.PGSQL.PORT.  To every connection it answers the
# startup message with AuthenticationCleartextPassword, appends to LOG one
# line per connection: "password=<what the client sent>" or "no password"
# (the client hung up), and refuses the login (SQLSTATE 28P01).  Runs until
# killed.
import os
import socket
import struct
import sys

sock_dir, port, log = sys.argv[1], sys.argv[2], sys.argv[3]
path = os.path.join(sock_dir, ".s.PGSQL." + port)
if os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def error(conn, code, message):
    fields = b"SFATAL\0VFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    conn.sendall(b"E" + struct.pack("!I", 4 + len(fields)) + fields)


while True:
    conn, _ = srv.accept()
    with conn:
        user = b"?"
        while True:
            head = read_exact(conn, 8)
            if head is None:
                break
            length, code = struct.unpack("!II", head)
            body = read_exact(conn, length - 8) or b""
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                conn.sendall(b"N")
                continue
            parts = body.split(b"\0")
            for k, v in zip(parts[0::2], parts[1::2]):
                if k == b"user":
                    user = v
            break
        else:
            continue
        conn.sendall(b"R" + struct.pack("!II", 8, 3))
        kind = conn.recv(1)
        if kind != b"p":
            with open(log, "a") as f:
                f.write("no password\n")
            continue
        (length,) = struct.unpack("!I", read_exact(conn, 4))
        password = read_exact(conn, length - 4).rstrip(b"\0").decode()
        with open(log, "a") as f:
            f.write("password=%s\n" % password)
        error(conn, "28P01", 'password authentication failed for user "%s"' % user.decode())
