"""iDenfy webhook receiver: Flask + psycopg 3 (Debian: python3-flask, python3-psycopg,
python3-psycopg-pool).  The database validates, stores and decides; this app only passes
the raw body and two headers to idenfy_ingest_signed and maps the result to an HTTP status.
A second thread LISTENs for decision changes and prints one line per notification.

Environment: DATABASE_URL (or the libpq PG* variables), LISTEN_ADDR (127.0.0.1),
PORT (8080), IDENFY_CHANNEL (idenfy).  `python3 app.py` runs both in Flask's threaded
development server; in production serve `app:app` with a WSGI server (gunicorn) and run the
listener once per deployment, not per worker: python3 -c 'import app; app.listen()'."""
import json
import os
import threading
import time

import psycopg
from flask import Flask, jsonify, request
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

CONNINFO = os.environ.get("DATABASE_URL", "")  # "" = libpq's PG* variables
CHANNEL = os.environ.get("IDENFY_CHANNEL", "idenfy")
# a few connections shared by the request threads; a request waits at most 5 s for one
pool = ConnectionPool(CONNINFO, min_size=1, max_size=4, timeout=5,
                      kwargs={"autocommit": True}, open=True)
app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024  # callbacks are a few KB


def http_status(sqlstate):
    """The README's table: SQLSTATE of a failed call -> HTTP status."""
    if sqlstate == "28000":
        return 401  # signature failure (idenfy.on_invalid = 'error')
    if sqlstate[:2] in ("22", "23"):
        return 422  # invalid callback, not stored: retrying cannot help
    if sqlstate[:2] in ("40", "53", "57", "08") or sqlstate == "55P03":
        return 503  # transient: the vendor's retry can succeed
    return 500


@app.post("/idenfy/webhook")
def webhook():
    body = request.get_data()  # the exact bytes the signature covers; never parsed here
    try:
        with pool.connection() as conn:
            scan_ref, outcome, _ = conn.execute(
                "SELECT scan_ref, outcome, decision FROM idenfy_ingest_signed(%s::bytea, %s, %s)",
                (body, request.headers.get("Idenfy-Signature"),
                 request.headers.get("Idenfy-Event-Type"))).fetchone()
    except (PoolTimeout, psycopg.OperationalError) as e:
        state = getattr(e, "sqlstate", None) or "08001"  # no SQLSTATE: no connection
        return jsonify(error=state), http_status(state)
    except psycopg.Error as e:
        state = e.sqlstate or "XX000"
        return jsonify(error=state), http_status(state)
    # 'rejected': bad signature, kept in idenfy.quarantine; everything else is accepted
    return jsonify(outcome=outcome, scanRef=scan_ref), 401 if outcome == "rejected" else 200


def show(payload):
    """One log line per notification: scanRef, decisions, reasons; no personal data."""
    note = json.loads(payload)
    if note.get("erased"):
        print(f"erased {note['scanRef']}", flush=True)
        return
    with pool.connection() as conn:
        row = conn.execute("SELECT decision, reasons, final FROM idenfy_decision(%s)",
                           (note["scanRef"],)).fetchone()
    reasons = ",".join(row[1] or []) if row else ""
    print(f"decision {note['scanRef']} {note['previousDecision'] or 'null'}->"
          f"{note['decision']} final={json.dumps(note['final'])} reasons={reasons}", flush=True)


def listen():
    """LISTEN on a dedicated connection; reconnect after a pause when it breaks."""
    while True:
        try:
            with psycopg.connect(CONNINFO, autocommit=True) as conn:
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                print(f"listening on channel {CHANNEL}", flush=True)
                for note in conn.notifies():
                    try:
                        show(note.payload)
                    except (psycopg.Error, PoolTimeout, ValueError, KeyError) as e:
                        print(f"notification not shown: {type(e).__name__}", flush=True)
        except psycopg.Error as e:
            print(f"listener: {e.sqlstate or 'connection lost'}, reconnecting", flush=True)
        time.sleep(2)


if __name__ == "__main__":
    threading.Thread(target=listen, daemon=True).start()
    app.run(host=os.environ.get("LISTEN_ADDR", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))
