// iDenfy webhook receiver: Express + node-postgres.  The database validates, stores and
// decides; this app only passes the raw body and two headers to idenfy_ingest_signed and
// maps the result to an HTTP status.  A dedicated connection LISTENs for decision changes
// and prints one line per notification.
//
// Environment: DATABASE_URL (or the libpq-style PG* variables), LISTEN_ADDR (127.0.0.1),
// PORT (8080), IDENFY_CHANNEL (idenfy).
'use strict';
const express = require('express');
const pg = require('pg');

const connectionString = process.env.DATABASE_URL; // undefined: PGHOST, PGPORT, ...
const channel = process.env.IDENFY_CHANNEL || 'idenfy';
const pool = new pg.Pool({ connectionString, max: 4, connectionTimeoutMillis: 5000 });
pool.on('error', (err) => console.log(`pool: idle connection lost (${err.code || 'no code'})`));

// The README's table: SQLSTATE of a failed call -> HTTP status.
function httpStatus(sqlstate) {
  if (sqlstate === '28000') return 401; // signature failure (idenfy.on_invalid = 'error')
  const cls = sqlstate.slice(0, 2);
  if (cls === '22' || cls === '23') return 422; // invalid callback, not stored
  if (['40', '53', '57', '08'].includes(cls) || sqlstate === '55P03') return 503; // transient
  return 500;
}

const app = express();
// the exact bytes the signature covers: a Buffer, never parsed, never toString()ed;
// whatever the Content-Type (type '*/*' skips a request that has none)
app.post('/idenfy/webhook', express.raw({ type: () => true, limit: '5mb' }), async (req, res) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0); // no body: not a Buffer
  try {
    // a Buffer parameter goes out in binary format: right for bytea (not for $1::jsonb)
    const { rows } = await pool.query(
      'SELECT scan_ref, outcome, decision FROM idenfy_ingest_signed($1::bytea, $2, $3)',
      [body, req.get('Idenfy-Signature') ?? null, req.get('Idenfy-Event-Type') ?? null]);
    const { scan_ref: scanRef, outcome } = rows[0];
    // 'rejected': bad signature, kept in idenfy.quarantine; everything else is accepted
    res.status(outcome === 'rejected' ? 401 : 200).json({ outcome, scanRef });
  } catch (err) {
    // a server error carries its SQLSTATE; anything else means no connection
    const sqlstate = err instanceof pg.DatabaseError ? err.code : '08001';
    res.status(httpStatus(sqlstate)).json({ error: sqlstate });
  }
});
// body-parser errors (too large, aborted): a status, never the message or the body
app.use((err, req, res, next) => res.status(err.status || 500).json({ error: err.type || 'error' }));

// One log line per notification: scanRef, decisions, reasons; no personal data.
async function show(payload) {
  const note = JSON.parse(payload);
  if (note.erased) return console.log(`erased ${note.scanRef}`);
  const { rows } = await pool.query(
    'SELECT decision, reasons, final FROM idenfy_decision($1)', [note.scanRef]);
  const reasons = rows.length ? (rows[0].reasons || []).join(',') : '';
  console.log(`decision ${note.scanRef} ${note.previousDecision ?? 'null'}->${note.decision}` +
    ` final=${JSON.stringify(note.final)} reasons=${reasons}`);
}

// LISTEN on a dedicated client; notifications are shown one at a time, in arrival order;
// when the connection breaks, a new client after a pause.
function listen() {
  const client = new pg.Client({ connectionString });
  let queue = Promise.resolve();
  let retried = false;
  const retry = (what) => {
    if (retried) return;
    retried = true;
    console.log(`listener: ${what}, reconnecting`);
    client.end().catch(() => {});
    setTimeout(listen, 2000);
  };
  client.on('error', (err) => retry(err.code || 'connection lost'));
  client.on('end', () => retry('connection closed'));
  client.on('notification', (msg) => {
    queue = queue.then(() => show(msg.payload))
      .catch((err) => console.log(`notification not shown: ${err.code || err.name}`));
  });
  client.connect()
    .then(() => client.query(`LISTEN ${client.escapeIdentifier(channel)}`))
    .then(() => console.log(`listening on channel ${channel}`))
    .catch((err) => retry(err.code || 'connect failed'));
}

listen();
const port = Number(process.env.PORT || 8080);
app.listen(port, process.env.LISTEN_ADDR || '127.0.0.1');
