#!/usr/bin/env bash
# concurrent: 10,000 generated callbacks ingested serially and from 4
# concurrent sessions (one transaction per callback) end in the same state.
source "$(dirname "$0")/lib.bash"
N=${IDENFY_CONCURRENT_N:-10000}

fresh_db idenfy_serial && fresh_db idenfy_parallel || { notok "create databases"; finish; exit 1; }
q -d idenfy_serial -f test/gen/gen.sql >/dev/null
q -d idenfy_serial -c "CREATE TABLE gen AS SELECT * FROM idenfy_test.gen_callbacks($N, 7)"
q -d idenfy_parallel -c "CREATE TABLE gen (seq int, scan_ref text, event_type text, payload jsonb)"
q -d idenfy_serial -c "COPY gen TO STDOUT" | q -d idenfy_parallel -c "COPY gen FROM STDIN"
check "generated $N callbacks" "$(q -d idenfy_parallel -c 'SELECT count(*) FROM gen')" "$N"

for db in idenfy_serial idenfy_parallel; do
	q -d $db <<'SQL'
CREATE PROCEDURE ingest_part(k int, parts int) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
	FOR r IN SELECT payload, event_type FROM gen WHERE seq % parts = k ORDER BY seq LOOP
		PERFORM idenfy_ingest(r.payload, r.event_type);
		COMMIT;
	END LOOP;
END $$;
SQL
done

# serially, in delivery order
if q -d idenfy_serial -c "CALL ingest_part(0, 1)"; then ok "serial ingest: no error"; else notok "serial ingest"; fi

# 4 sessions at once, each a quarter of the stream (the callbacks of one
# scanRef land in different sessions)
pids=""
for k in 0 1 2 3; do
	q -d idenfy_parallel -c "CALL ingest_part($k, 4)" >"/tmp/idenfy-par-$k.log" 2>&1 &
	pids="$pids $!"
done
errors=0
for p in $pids; do wait "$p" || errors=$((errors + 1)); done
check "4 concurrent sessions: no error" "$errors" "0"
cat /tmp/idenfy-par-*.log 2>/dev/null | head -5

distinct=$(q -d idenfy_serial -c "SELECT count(DISTINCT (scan_ref, md5(payload::text))) FROM gen")
check "serial: one history row per distinct callback" \
	"$(q -d idenfy_serial -c 'SELECT count(*) FROM idenfy.callback')" "$distinct"
check "concurrent: one history row per distinct callback" \
	"$(q -d idenfy_parallel -c 'SELECT count(*) FROM idenfy.callback')" "$distinct"
check "one verification per scanRef" \
	"$(q -d idenfy_parallel -c 'SELECT count(*) FROM idenfy.verification')" \
	"$(q -d idenfy_serial -c 'SELECT count(DISTINCT scan_ref) FROM gen')"

while read -r t1 d1 t2 d2; do
	check "same $t1 serially and concurrently" "$d2" "$d1"
done < <(paste <(state_digest idenfy_serial) <(state_digest idenfy_parallel))

# the decisions are those of the rules, not of arrival order
check "decision mix" "$(q -d idenfy_parallel -c "SELECT string_agg(decision || '=' || n, ' ' ORDER BY decision) FROM (SELECT decision, count(*) n FROM idenfy.verification GROUP BY 1) s")" \
	"$(q -d idenfy_serial -c "SELECT string_agg(decision || '=' || n, ' ' ORDER BY decision) FROM (SELECT decision, count(*) n FROM idenfy.verification GROUP BY 1) s")"

q -d postgres -c "DROP DATABASE idenfy_serial" -c "DROP DATABASE idenfy_parallel"
finish
