"""No personal data in the server log: send bad and quarantined callbacks
full of marker values (through bind parameters, as applications do), then
read what the server logged meanwhile and look for the markers.

Prints TAP lines.  Connection from PGHOST/PGPORT/PGUSER; database in argv[1];
the server log in argv[2]."""
import hashlib
import hmac
import json
import os
import sys

import psycopg

db, log_path = sys.argv[1], sys.argv[2]
mark = "LOGMARK" + os.urandom(4).hex().upper()
ip = "203.0.113.77"
n = 0
bad = 0


def check(desc, ok):
    global n, bad
    n += 1
    if not ok:
        bad += 1
    print(("ok" if ok else "not ok") + f" {n} - {desc}")


def person(**extra):
    cb = {
        "scanRef": "log-1", "clientId": "client-" + mark, "final": True, "clientIp": ip,
        "data": {"docFirstName": mark + "FIRST", "docLastName": mark + "LAST", "docNumber": mark + "DOC",
                 "address": mark + "ADDR", "docDob": "1970-01-01",
                 "additionalData": {"UTILITY_BILL": {"ssn": {"value": mark + "SSN"}}}},
        "status": {"overall": "APPROVED", "autoFace": "FACE_MATCH", "autoDocument": "DOC_VALIDATED"},
    }
    for path, value in extra.items():
        node = cb
        keys = path.split(".")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return cb


bad_callbacks = [
    person(**{"data.docFirstName": 7}),
    person(**{"data.docLastName": mark * 20}),
    person(**{"data.docNationality": mark}),
    person(**{"clientIp": mark}),
    person(**{"clientId": mark * 10}),
    person(**{"startTime": mark}),
    person(**{"data.duplicateFaces": [mark * 3]}),
    person(**{"fileUrls": {"FACE": 1, mark: "x"}}),
    person(**{"scanRef": mark * 3}),
]

start = os.path.getsize(log_path)
with psycopg.connect(dbname=db, autocommit=True) as conn:
    errors = 0
    for cb in bad_callbacks:
        try:
            conn.execute("SELECT * FROM idenfy_ingest(%s::jsonb, %s)", (json.dumps(cb), "IDENTIFICATION"))
        except psycopg.Error:
            errors += 1
    check(f"{len(bad_callbacks)} bad callbacks rejected", errors == len(bad_callbacks))

    # the same through the raw body entry point, bytes and text
    errors = 0
    for cb in bad_callbacks:
        for sql, arg in (("SELECT * FROM idenfy_ingest_body(%s::bytea)", json.dumps(cb).encode()),
                         ("SELECT * FROM idenfy_ingest_body(%s::text)", json.dumps(cb))):
            try:
                conn.execute(sql, (arg,))
            except psycopg.Error:
                errors += 1
    check(f"{len(bad_callbacks)} bad callbacks rejected by idenfy_ingest_body (bytea and text)",
          errors == 2 * len(bad_callbacks))

    conn.execute("SET idenfy.on_invalid = 'quarantine'")
    quarantined = 0
    for cb in bad_callbacks:
        row = conn.execute("SELECT outcome::text FROM idenfy_ingest(%s::jsonb)", (json.dumps(cb),)).fetchone()
        quarantined += row[0] == "quarantined"
    check(f"{len(bad_callbacks)} bad callbacks quarantined", quarantined == len(bad_callbacks))
    conn.execute("RESET idenfy.on_invalid")

    # signed bodies: a wrong signature, and a signed body that is not JSON (an unquoted marker)
    conn.execute("SELECT idenfy_signing_key_add('log', 'log-key')")
    body = ('{"scanRef": "log-2", "clientIp": %s, "name": "%s"}' % (ip, mark)).encode()
    sig = hmac.new(b"log-key", body, hashlib.sha256).hexdigest()
    for b, s in ((body, "0" * 64), (body, sig), (body.replace(b'"%s"' % mark.encode(), mark.encode()), sig)):
        try:
            conn.execute("SELECT * FROM idenfy_ingest_signed(%s::bytea, %s)", (b, s))
        except psycopg.Error:
            pass
    # a valid callback, then erasing the person: notices and notifications name no value
    conn.execute("SELECT * FROM idenfy_ingest(%s::jsonb)", (json.dumps(person(scanRef="log-3")),))
    conn.execute("SELECT * FROM idenfy_forget_client(%s)", ("client-" + mark,))

with open(log_path, "rb") as f:
    f.seek(start)
    logged = f.read().decode("utf-8", "replace")

check(f"the server logged the errors ({logged.count('ERROR:')} ERROR lines)", logged.count("ERROR:") >= len(bad_callbacks))
leaks = [line for line in logged.splitlines() if mark in line or ip in line]
check("no marker value and no IP address in the server log", not leaks)
for line in leaks[:5]:
    print("#   " + line[:200])

print(f"1..{n}")
sys.exit(1 if bad else 0)
