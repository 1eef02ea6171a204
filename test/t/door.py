"""The door: raw bodies on every entry point that takes them, and concurrent
batches.  Prints TAP lines.

argv: database, database for the sequential reference, server log path.
Connection from PGHOST/PGPORT/PGUSER.

Part 1, for each of idenfy_ingest_body(bytea), idenfy_ingest_body(text),
idenfy_ingest_signed(bytea, ...), idenfy_ingest_signed(text, ...) and each
body (trailing comma, truncated, empty, invalid UTF-8, 100 MB, an unquoted
marker value in a name field), in error mode: the SQLSTATE and the position
the error names (computed here from the bytes); in quarantine mode: the
outcome, and the quarantined bytes equal to the sent bytes; and in both: no
marker in the error, in the quarantine's error columns or in the server log.
A text parameter cannot carry invalid UTF-8 (the server refuses it before
any function runs), so the text forms skip that one body.

Part 2: 8 callers send batches of 32 callbacks through idenfy_ingest_many,
sharing scanRefs, at the same time: no deadlock, and the final state equals
the same callbacks delivered one by one."""
import hashlib
import hmac
import json
import os
import random
import re
import sys
import threading

import psycopg

db, seq_db, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "fixtures")
mark = "DOORMARK" + os.urandom(4).hex().upper()
key = b"door-key"
n = 0
bad = 0


def check(desc, ok, why=""):
    global n, bad
    n += 1
    if not ok:
        bad += 1
    print(("ok" if ok else "not ok") + f" {n} - {desc}" + ("" if ok else f" ({why})"))


def position(body, offset):
    """The position text the extension writes for a 0-based byte offset."""
    line = body.count(b"\n", 0, offset) + 1
    start = body.rfind(b"\n", 0, offset) + 1
    return f"At line {line}, byte {offset - start + 1} of the line (byte {offset + 1} of the body)"


with open(os.path.join(fixtures, "approved.json"), "rb") as f:
    approved = f.read()
approved = approved.replace(b"MARKERFIRST01", mark.encode())
with open(os.path.join(fixtures, "trailing-comma.json"), "rb") as f:
    trailing = f.read().replace(b"MARKERFIRST14", mark.encode())

# (name, body, SQLSTATE, the position or size the detail must name)
cut = approved.index(mark.encode()) + len(mark) // 2
invalid = approved.replace(mark.encode(), mark.encode() + b"\xff", 1)
unquoted = approved.replace(b'"%s"' % mark.encode(), mark.encode(), 1)
huge = approved[:-2].rstrip(b"\n }") + b'}, "padding": "' + mark.encode() + b"x" * (100 * 1024 * 1024) + b'"}'
bodies = [
    ("trailing comma", trailing, "22P02", position(trailing, trailing.rstrip().rindex(b"}"))),
    # the lexer names the start of the token the end of the body cuts off
    ("truncated", approved[:cut], "22P02", position(approved, approved.index(b'"' + mark.encode()))),
    ("empty", b"", "22P02", "The body has 0 bytes."),
    ("invalid UTF-8", invalid, "22021", position(invalid, invalid.index(b"\xff"))),
    ("100 MB", huge, "22001", f"The body has {len(huge)} bytes"),
    ("unquoted marker", unquoted, "22P02", position(unquoted, unquoted.index(mark.encode()))),
]
entry_points = [
    ("idenfy_ingest_body(bytea)", "SELECT outcome::text FROM idenfy_ingest_body(%s::bytea)", False, False),
    ("idenfy_ingest_body(text)", "SELECT outcome::text FROM idenfy_ingest_body(%s::text)", True, False),
    ("idenfy_ingest_signed(bytea)", "SELECT outcome::text FROM idenfy_ingest_signed(%s::bytea, %s)", False, True),
    ("idenfy_ingest_signed(text)", "SELECT outcome::text FROM idenfy_ingest_signed(%s::text, %s)", True, True),
]

start = os.path.getsize(log_path)
with psycopg.connect(dbname=db, autocommit=True) as conn:
    conn.execute("SELECT idenfy_signing_key_add('door', %s)", (key.decode(),))
    conn.execute("SET idenfy.max_body_size = '16MB'")
    for ep, sql, as_text, signed in entry_points:
        for name, body, sqlstate, where in bodies:
            if as_text and name == "invalid UTF-8":
                continue
            arg = body.decode("utf-8") if as_text else body
            args = (arg, hmac.new(key, body, hashlib.sha256).hexdigest()) if signed else (arg,)
            # error mode
            try:
                conn.execute(sql, args, binary=True)
                check(f"{ep}, {name}: an error", False, "no error")
            except psycopg.Error as e:
                d = e.diag
                text = " ".join(x or "" for x in (d.message_primary, d.message_detail, d.message_hint, d.context))
                check(f"{ep}, {name}: SQLSTATE {sqlstate} with {where[:40]}...",
                      d.sqlstate == sqlstate and (d.message_detail or "").startswith(where),
                      f"{d.sqlstate}: {d.message_primary} | {d.message_detail}")
                check(f"{ep}, {name}: no marker in the error", mark not in text, text[:200])
            # quarantine mode: kept byte for byte
            conn.execute("SET idenfy.on_invalid = 'quarantine'")
            outcome = conn.execute(sql, args, binary=True).fetchone()[0]
            conn.execute("RESET idenfy.on_invalid")
            row = conn.execute(
                "SELECT sqlstate, message || ' ' || coalesce(detail, '') || ' ' || coalesce(json_path, ''),"
                " encode(pg_catalog.sha256(body), 'hex') = %s, scan_ref FROM idenfy.quarantine ORDER BY id DESC LIMIT 1",
                (hashlib.sha256(body).hexdigest(),)).fetchone()
            check(f"{ep}, {name}: quarantined with SQLSTATE {sqlstate}, the same {len(body)} bytes",
                  outcome == "quarantined" and row[0] == sqlstate and row[2] is True and row[3] == "",
                  f"outcome {outcome}, row {row[0]} same={row[2]}")
            check(f"{ep}, {name}: no marker in the quarantine's error columns", mark not in row[1], row[1][:200])
    total = conn.execute("SELECT count(*) FROM idenfy.quarantine").fetchone()[0]
    check(f"{total} quarantine rows, one per case", total == 4 * len(bodies) - 2)

with open(log_path, "rb") as f:
    f.seek(start)
    logged = f.read().decode("utf-8", "replace")
check(f"the server logged the errors ({logged.count('ERROR:')} ERROR lines)", logged.count("ERROR:") >= 4 * len(bodies) - 2)
leaks = [line for line in logged.splitlines() if mark in line]
check("no marker in the server log", not leaks, "; ".join(x[:120] for x in leaks[:3]))

# Part 2: concurrent batches sharing scanRefs
base = json.loads(approved)
callbacks = []
for s in range(64):
    for k in range(4):
        cb = json.loads(json.dumps(base))
        cb["scanRef"] = f"door-{s:03d}"
        cb["startTime"] = 1752000000 + s * 10 + k
        cb["final"] = k == 3
        callbacks.append(json.dumps(cb))
rng = random.Random(20261204)
errors = {}
results = {}
lock = threading.Lock()


def caller(i):
    mine = list(callbacks)
    rng_i = random.Random(i)
    rng_i.shuffle(mine)
    with psycopg.connect(dbname=db, autocommit=True) as c:
        for b in range(8):
            batch = mine[b * 32:(b + 1) * 32]
            try:
                rows = c.execute("SELECT ord, outcome::text FROM idenfy_ingest_many(%s::jsonb[])", (batch,)).fetchall()
                with lock:
                    for _, outcome in rows:
                        results[outcome] = results.get(outcome, 0) + 1
            except psycopg.Error as e:
                with lock:
                    errors[e.diag.sqlstate] = errors.get(e.diag.sqlstate, 0) + 1


threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=300)
check(f"8 callers x 8 batches of 32 sharing 64 scanRefs: no error ({results})", not errors, f"errors {errors}")
check("no deadlock (40P01)", "40P01" not in errors, f"errors {errors}")

order = list(callbacks)
rng.shuffle(order)
with psycopg.connect(dbname=seq_db, autocommit=True) as c:
    for cb in order:
        c.execute("SELECT * FROM idenfy_ingest(%s::jsonb)", (cb,))

state = ("SELECT string_agg(v.scan_ref || ' ' || v.decision || ' ' || v.final || ' ' || encode(c.payload_sha256, 'hex'),"
         " E'\\n' ORDER BY v.scan_ref) FROM idenfy.verification v"
         " JOIN idenfy.callback c ON c.scan_ref = v.scan_ref AND c.id = v.callback_id WHERE v.scan_ref LIKE 'door-%'")
history = ("SELECT count(*) || ' ' || md5(string_agg(scan_ref || encode(payload_sha256, 'hex'), ',' ORDER BY scan_ref, payload_sha256))"
           " FROM idenfy.callback WHERE scan_ref LIKE 'door-%'")
with psycopg.connect(dbname=db) as a, psycopg.connect(dbname=seq_db) as s:
    sa, ss = a.execute(state).fetchone()[0], s.execute(state).fetchone()[0]
    check("the current state equals sequential delivery (64 verifications, each its final callback)",
          sa == ss and sa is not None and sa.count("\n") == 63, "differs")
    ha, hs = a.execute(history).fetchone()[0], s.execute(history).fetchone()[0]
    check(f"history equals sequential delivery ({ha.split()[0]} callbacks)", ha == hs and ha.startswith("256 "),
          f"{ha} vs {hs}")

print(f"1..{n}")
sys.exit(1 if bad else 0)
