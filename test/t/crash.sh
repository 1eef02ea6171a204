#!/usr/bin/env bash
# crash: a crash in the middle of a concurrent load loses no acknowledged callback and leaves
# a consistent state.
#
# A throwaway cluster of its own (initdb in a temporary folder under /tmp, Unix socket there,
# no TCP), 4 clients each ingesting distinct generated callbacks one per transaction; a client
# writes "ACK scanRef md5(payload)" to its log only after its COMMIT returned.  After a couple
# of seconds the postmaster gets SIGKILL (and so do its remaining children: a power cut, as
# far as the database can tell); the cluster restarts (crash recovery) and:
#   - every acknowledged callback is in idenfy.callback (scanRef + md5 of the payload);
#   - every verification's callback_id is in idenfy.callback, for the same scanRef;
#   - no document or face_link row without its verification (file URLs and services are views of it);
#   - every created/updated callback is its verification's current callback, or a later
#     created/updated callback of the same scanRef exists;
#   - the whole stream delivered again (webhook retries) ends in the same state as a clean
#     serial ingest of it (test/t/lib.bash state_digest).
# Runs as the postgres user (initdb refuses root).  IDENFY_CRASH_N (default 8000) callbacks,
# IDENFY_CRASH_AFTER (default 2) seconds of load before the kill.
source "$(dirname "$0")/lib.bash"
PGBIN=${PGBIN:-$(pg_config --bindir)}
N=${IDENFY_CRASH_N:-8000}
AFTER=${IDENFY_CRASH_AFTER:-2}
CPORT=${IDENFY_CRASH_PORT:-54359}
started=$(date +%s)

tmp=$(mktemp -d /tmp/idenfy-crash.XXXXXX)
data=$tmp/data
stop() {
	"$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
}
cleanup() {
	stop
	[ -n "${IDENFY_CRASH_KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

# the cluster: our own socket folder, so the port cannot collide with another cluster's
if ! "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$tmp/initdb.log" 2>&1; then
	notok "initdb: $(tail -3 "$tmp/initdb.log")"
	finish
	exit 1
fi
cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
port = $CPORT
unix_socket_directories = '$tmp'
logging_collector = off
fsync = on
synchronous_commit = on
max_connections = 20
CONF
start() { "$PGBIN/pg_ctl" -D "$data" -l "$tmp/server.log" -w -t 60 start >/dev/null 2>&1; }
if ! start; then
	notok "start the crash cluster: $(tail -3 "$tmp/server.log")"
	finish
	exit 1
fi
export PGHOST=$tmp PGPORT=$CPORT PGUSER=postgres PGDATABASE=postgres
unset PGSERVICE

q -c "CREATE DATABASE crash" -c "CREATE DATABASE reference" >/dev/null
for db in crash reference; do
	q -d $db -c "CREATE EXTENSION idenfy" >/dev/null
done
q -d crash -f test/gen/gen.sql >/dev/null
q -d crash -c "CREATE TABLE gen AS SELECT * FROM idenfy_test.gen_callbacks($N, 21)" \
	-c "ALTER TABLE gen ADD PRIMARY KEY (seq)" >/dev/null
q -d reference -c "CREATE TABLE gen (seq int PRIMARY KEY, scan_ref text, event_type text, payload jsonb)"
q -d crash -c "COPY gen TO STDOUT" | q -d reference -c "COPY gen FROM STDIN"
check "generated $N callbacks" "$(q -d crash -c 'SELECT count(*) FROM gen')" "$N"

# client k: the callbacks with seq % 4 = k in order, one transaction each, ACK after COMMIT
for k in 0 1 2 3; do
	for ((s = (k == 0 ? 4 : k); s <= N; s += 4)); do
		printf 'BEGIN;\nSELECT i.scan_ref || %s || md5(g.payload::text) AS ack FROM gen g, idenfy_ingest(g.payload, g.event_type) i WHERE g.seq = %d \\gset\nCOMMIT;\n\\echo ACK :ack\n' "' '" "$s"
	done >"$tmp/client-$k.sql"
done
pids=""
for k in 0 1 2 3; do
	psql -X -qAt -v ON_ERROR_STOP=1 -d crash -f "$tmp/client-$k.sql" >"$tmp/client-$k.log" 2>"$tmp/client-$k.err" &
	pids="$pids $!"
done
sleep "$AFTER"

# the crash: SIGKILL the postmaster, then whatever it left behind
pm=$(head -1 "$data/postmaster.pid")
children=$(ps -o pid= --ppid "$pm" | tr '\n' ' ')
kill -9 "$pm"
for c in $children; do kill -9 "$c" 2>/dev/null || true; done
for p in $pids; do wait "$p" 2>/dev/null || true; done
acked=$(cat "$tmp"/client-*.log | grep -c '^ACK ' || true)
errors=$(cat "$tmp"/client-*.err | grep -vcE 'server closed the connection|terminated abnormally|before or while processing|connection to server was lost|^$|no connection to the server|FATAL:  terminating connection|ERROR:  +terminating|could not send data|could not receive data' || true)
unfinished=$(for k in 0 1 2 3; do [ "$(grep -c '^ACK ' "$tmp/client-$k.log")" -lt $((N / 4)) ] && echo x; done | wc -l)
check "4 clients loading when the postmaster was killed (clients still running: $unfinished of 4)" "$unfinished" 4
check "no client error other than the lost connection" "$errors" 0
[ "$errors" = 0 ] || head -5 "$tmp"/client-*.err | sed 's/^/# /'

# restart: crash recovery (retry while the dead server's shared memory goes away)
restarted=0
for i in $(seq 1 20); do
	if start; then restarted=1; break; fi
	sleep 1
done
check "restart after SIGKILL (crash recovery)" "$restarted" 1
if [ "$restarted" != 1 ]; then
	tail -20 "$tmp/server.log" | sed 's/^/# /'
	finish
	exit 1
fi
recovery=$(grep -cE 'database system was interrupted|was not properly shut down; automatic recovery in progress|redo starts at' "$tmp/server.log" || true)
[ "$recovery" -gt 0 ] && ok "the server log shows crash recovery" || notok "no crash recovery in the server log"

# every acknowledged callback is present
cat "$tmp"/client-*.log | sed -n 's/^ACK //p' >"$tmp/acks.txt"
q -d crash -c "CREATE TABLE acks (scan_ref text, md5 text)"
q -d crash -c "COPY acks FROM STDIN WITH (DELIMITER ' ')" <"$tmp/acks.txt"
present=$(q -d crash -c "SELECT count(*) FROM acks a WHERE EXISTS (SELECT 1 FROM idenfy.callback c WHERE c.scan_ref = a.scan_ref AND md5(c.payload::text) = a.md5)")
in_history=$(q -d crash -c "SELECT count(*) FROM idenfy.callback")
check "every acknowledged callback is in idenfy.callback ($acked acknowledged, $present present; $in_history history rows after recovery)" "$present" "$acked"
[ "$acked" -gt 0 ] && ok "callbacks were acknowledged before the crash ($acked)" || notok "no callback acknowledged before the crash"
echo "# $(q -d crash -c "SELECT count(*) FROM idenfy.callback c WHERE NOT EXISTS (SELECT 1 FROM acks a WHERE a.scan_ref = c.scan_ref AND a.md5 = md5(c.payload::text))") history rows committed but not acknowledged (in flight at the kill); $(q -d crash -c "SELECT count(*) - count(DISTINCT (scan_ref, md5)) FROM acks") acknowledgements were of duplicates"

# consistency of the recovered state
check "every verification's callback_id is a history row of its scanRef" \
	"$(q -d crash -c "SELECT count(*) FROM idenfy.verification v WHERE NOT EXISTS (SELECT 1 FROM idenfy.callback c WHERE c.id = v.callback_id AND c.scan_ref = v.scan_ref)")" 0
for t in document face_link; do
	check "no $t row without its verification" \
		"$(q -d crash -c "SELECT count(*) FROM idenfy.$t x WHERE NOT EXISTS (SELECT 1 FROM idenfy.verification v WHERE v.scan_ref = x.scan_ref)")" 0
done
check "every created/updated callback is current or followed by a later created/updated one" \
	"$(q -d crash <<'SQL'
SELECT count(*) FROM idenfy.callback c
 WHERE c.outcome IN ('created', 'updated')
   AND c.event_type IS DISTINCT FROM 'DOCUMENT_EXPIRATION'
   AND NOT EXISTS (SELECT 1 FROM idenfy.verification v WHERE v.scan_ref = c.scan_ref AND v.callback_id = c.id)
   AND NOT EXISTS (SELECT 1 FROM idenfy.callback l WHERE l.scan_ref = c.scan_ref AND l.id > c.id
                      AND l.outcome IN ('created', 'updated'))
SQL
)" 0
check "one verification per scanRef with a created callback" \
	"$(q -d crash -c "SELECT count(DISTINCT scan_ref) FROM idenfy.callback WHERE outcome = 'created' AND event_type IS DISTINCT FROM 'DOCUMENT_EXPIRATION'")" \
	"$(q -d crash -c "SELECT count(*) FROM idenfy.verification")"

# the webhook retries: every callback delivered again, in order, after the crash; the state
# must be that of a clean serial ingest of the same stream
# (one transaction per callback, as the webhook delivers them)
deliver='CREATE PROCEDURE deliver() LANGUAGE plpgsql AS $$ DECLARE r record;
BEGIN FOR r IN SELECT payload, event_type FROM gen ORDER BY seq LOOP PERFORM idenfy_ingest(r.payload, r.event_type); COMMIT; END LOOP; END $$'
if q -d crash -c "$deliver" -c "CALL deliver()" && q -d reference -c "$deliver" -c "CALL deliver()"; then
	ok "the whole stream redelivered after the crash, and ingested into a reference database"
else
	notok "redelivery"
fi
while read -r t1 d1 t2 d2; do
	check "after redelivery: same $t1 as a clean serial ingest" "$d1" "$d2"
done < <(paste <(state_digest crash) <(state_digest reference))

crashes=$(grep -cE 'terminated by signal|PANIC|TRAP:' "$tmp/server.log" || true)
check "no backend terminated by a signal (other than the kill) in the crash cluster's log" "$crashes" 0
stop
echo "# $(($(date +%s) - started)) s"
finish
