"""A real client: listens on channel "idenfy" with psycopg 3 while another
session changes a decision, and checks what arrives.

Prints TAP lines.  Connection from PGHOST/PGPORT/PGUSER; database in argv[1]."""
import json
import os
import subprocess
import sys
import time

import psycopg

db = sys.argv[1]
n = 0
bad = 0


def check(desc, got, want):
    global n, bad
    n += 1
    if got == want:
        print(f"ok {n} - {desc}")
    else:
        bad += 1
        print(f"not ok {n} - {desc}: got {got!r}, want {want!r}")


def ingest(payload, event_type=None):
    """Another session: psql, one autocommit statement."""
    sql = "SELECT outcome FROM idenfy_ingest(%s::jsonb, %s)" % (
        "'" + json.dumps(payload).replace("'", "''") + "'",
        "NULL" if event_type is None else "'" + event_type + "'")
    out = subprocess.run(["psql", "-X", "-qAt", "-d", db, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


inbox = []


def received(conn, wait=1.0):
    """Notifications that arrived by now (plus `wait` seconds): the handler
    collects them whenever the connection talks to the server."""
    time.sleep(wait)
    conn.execute("SELECT 1")
    got = list(inbox)
    inbox.clear()
    return got


callback = {
    "scanRef": "listener-1", "clientId": "client-listener", "final": False,
    "data": {"docFirstName": "MARKERFIRSTLSN", "docNumber": "MARKERDOCLSN"},
    "clientIp": "198.51.100.77",
    "status": {"overall": "APPROVED", "autoFace": "FACE_MATCH", "autoDocument": "DOC_VALIDATED"},
}

with psycopg.connect(dbname=db, autocommit=True) as conn:
    conn.add_notify_handler(lambda note: inbox.append((note.channel, json.loads(note.payload))))
    conn.execute("LISTEN idenfy")

    check("preliminary callback: created", ingest(callback, "IDENTIFICATION_AUTO_FINISHED"), "created")
    notes = received(conn)
    check("one notification for the new verification", len(notes), 1)
    check("its payload", notes[0] if notes else None,
          ("idenfy", {"scanRef": "listener-1", "clientId": "client-listener", "decision": "PENDING",
                      "previousDecision": None, "final": False}))

    final = dict(callback, final=True,
                 status=dict(callback["status"], manualFace="FACE_MATCH", manualDocument="DOC_VALIDATED"))
    check("final callback: updated", ingest(final, "IDENTIFICATION_MANUAL_FINISHED"), "updated")
    notes = received(conn)
    check("one notification for the decision change", [p for _, p in notes],
          [{"scanRef": "listener-1", "clientId": "client-listener", "decision": "APPROVED",
            "previousDecision": "PENDING", "final": True}])

    check("redelivery: duplicate", ingest(final, "IDENTIFICATION_MANUAL_FINISHED"), "duplicate")
    check("no notification for a duplicate", received(conn), [])

    check("late preliminary: stale", ingest(dict(callback, clientLocation="Riga"), "IDENTIFICATION_AUTO_FINISHED"), "stale")
    check("no notification for a stale callback", received(conn), [])

    text = json.dumps(notes)
    check("no personal data in the payloads", any(m in text for m in ("MARKER", "198.51.100")), False)

print(f"1..{n}")
sys.exit(1 if bad else 0)
