#!/usr/bin/env bash
# test/citus/cluster.sh: the Citus checks, inside the chroot of test/citus/run.sh
# (as root there; Citus installed).  Not run directly on a host.
#
# Builds and installs idenfy (test/env.sh), starts a coordinator (54401) and
# two workers (54402, 54403) on 127.0.0.1 and a plain single node (54404),
# runs the README's "Scaling out" commands as printed on the coordinator, then
# gives the cluster (through the coordinator) and the single node the same
# callbacks and compares.  TAP lines; last line "N passed, N failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source test/env.sh
set +e
install_packages
build_install
ROOT=$(pwd)
RUNC=/build/citus-run
N=${IDENFY_CITUS_N:-4000}
PORTS=(54401 54402 54403 54404)
NAMES=(coordinator worker1 worker2 single)
DB=idenfy_citus
rm -rf "$RUNC"
mkdir -p "$RUNC"
chown postgres "$RUNC"
# the tests run as postgres from here on
export PGHOST=127.0.0.1 PGUSER=postgres PATH="$PGBIN:$PATH"

source test/t/lib.bash
set +e
qn() { local port=$1; shift; q -p "$port" "$@"; }
C=${PORTS[0]}
S=${PORTS[3]}

stop_all() {
	for i in 0 1 2 3; do
		as_postgres "$PGBIN/pg_ctl -D '$RUNC/${NAMES[$i]}' -m fast -w stop" >/dev/null 2>&1 || true
	done
}
trap stop_all EXIT

# ---- the cluster ----------------------------------------------------------
started=$(date +%s)
up=0
for i in 0 1 2 3; do
	d=$RUNC/${NAMES[$i]}
	as_postgres "$PGBIN/initdb -D '$d' -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >'$d.initdb.log' 2>&1" || continue
	preload="shared_preload_libraries = 'citus'"
	[ "${NAMES[$i]}" = single ] && preload=""
	cat >>"$d/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${PORTS[$i]}
unix_socket_directories = '$RUNC'
logging_collector = off
log_min_messages = warning
max_connections = 100
max_prepared_transactions = 100
$preload
CONF
	as_postgres "$PGBIN/pg_ctl -D '$d' -l '$d.log' -w start" >/dev/null && up=$((up + 1))
done
check "four servers started (coordinator, 2 workers, single node)" "$up" 4
for i in 0 1 2 3; do
	qn "${PORTS[$i]}" -d postgres -c "CREATE DATABASE $DB" >/dev/null
	[ "${NAMES[$i]}" = single ] || qn "${PORTS[$i]}" -d $DB -c "CREATE EXTENSION citus" >/dev/null
done
qn $C -d $DB -c "SELECT citus_set_coordinator_host('127.0.0.1', $C)" >/dev/null
qn $C -d $DB -c "SELECT citus_add_node('127.0.0.1', ${PORTS[1]})" -c "SELECT citus_add_node('127.0.0.1', ${PORTS[2]})" >/dev/null
check "Citus: two active workers" "$(qn $C -d $DB -c "SELECT count(*) FROM citus_get_active_worker_nodes()")" 2
echo "# $(qn $C -d $DB -c "SELECT 'Citus ' || extversion FROM pg_extension WHERE extname = 'citus'"), $(qn $C -d $DB -c 'SHOW server_version')"

# ---- the README's commands, as printed ------------------------------------
qn $C -d $DB -c "CREATE EXTENSION idenfy" >/dev/null
qn $S -d $DB -c "CREATE EXTENSION idenfy" >/dev/null
awk '/^## Scaling out/ { s = 1; next } s && /^## / { exit } s && /^```sql$/ { b = 1; next } b && /^```$/ { exit } b { print }' README.md >"$RUNC/readme.sql"
echo "# README Scaling out: $(wc -l <"$RUNC/readme.sql") lines"
if qn $C -d $DB -f "$RUNC/readme.sql" >"$RUNC/readme.out" 2>&1; then
	ok "README Scaling-out commands run as printed"
else
	notok "README Scaling-out commands: $(grep -m1 ERROR "$RUNC/readme.out")"
	finish
	echo "$((n - bad)) passed, $bad failed"
	exit 1
fi
check "distributed tables (scan_ref, colocated)" \
	"$(qn $C -d $DB -c "SELECT string_agg(logicalrelid::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition WHERE partmethod = 'h' AND colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'idenfy.verification'::regclass)")" \
	"idenfy.callback idenfy.document idenfy.document_expiration idenfy.erasure idenfy.face_link idenfy.quarantine idenfy.verification"
check "reference tables" \
	"$(qn $C -d $DB -c "SELECT string_agg(logicalrelid::text, ' ' ORDER BY logicalrelid::text) FROM pg_dist_partition WHERE partmethod = 'n' AND repmodel = 't'")" \
	"idenfy.signing_key idenfy.tag_policy"

# shells: no row of ours in any node's own relation (every row is in a shard)
shell_bytes() {
	# shell_bytes DB: bytes in the heaps of our distributed and reference tables, all nodes
	local total=0 b
	for p in ${PORTS[0]} ${PORTS[1]} ${PORTS[2]}; do
		b=$(qn $p -d "$1" -c "SELECT coalesce(sum(pg_relation_size(c.oid)), 0) FROM pg_class c
			WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind = 'r'
			  AND c.oid IN (SELECT logicalrelid FROM pg_dist_partition)")
		total=$((total + ${b:-0}))
	done
	echo $total
}
shell_rows() {
	# shell_rows DB: rows in the ONLY relations of the shells, all nodes (pageinspect-free: a
	# heap of 0 bytes holds no row; report both)
	local out="" p
	for p in ${PORTS[0]} ${PORTS[1]} ${PORTS[2]}; do
		out="$out$(qn $p -d "$1" -c "SELECT string_agg(c.relname || '=' || pg_relation_size(c.oid), ' ' ORDER BY c.relname)
			FROM pg_class c WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind = 'r'
			  AND pg_relation_size(c.oid) > 0 AND c.oid IN (SELECT logicalrelid FROM pg_dist_partition)")"
	done
	echo "$out"
}

# ---- the callbacks: fixtures, then generated ones -------------------------
# one statement per callback, as an application sends them: routed
# (idenfy_ingest_routed, which Citus delegates to the worker of the scanRef)
# or plain (idenfy_ingest, run on the coordinator, its statements routed)
qn $S -d $DB -f test/gen/gen.sql >/dev/null
qn $S -d $DB -c "CREATE TABLE feed (seq serial, scan_ref text, event_type text, payload jsonb)"
bash test/fixtures/samples.ndjson.sh | qn $S -d $DB -c "CREATE TEMP TABLE l (j text); COPY l FROM STDIN CSV QUOTE e'\x01' DELIMITER e'\x02';
	INSERT INTO feed (scan_ref, event_type, payload) SELECT j::jsonb #>> '{payload,scanRef}', j::jsonb ->> 'event_type', j::jsonb -> 'payload' FROM l"
nfix=$(qn $S -d $DB -c "SELECT count(*) FROM feed")
qn $S -d $DB -c "INSERT INTO feed (scan_ref, event_type, payload) SELECT scan_ref, event_type, payload FROM idenfy_test.gen_callbacks($N, 11) ORDER BY seq"
echo "# feed: $nfix fixture callbacks, $N generated"

statements() {
	# statements FN FROM TO: one SELECT per callback of feed seq FROM..TO, routed or plain
	if [ "$1" = routed ]; then
		qn $S -d $DB -c "SELECT format('SELECT o.outcome, o.decision FROM idenfy_ingest_routed(%L, %L::jsonb, %L) o;', scan_ref, payload, event_type) FROM feed WHERE seq BETWEEN $2 AND $3 ORDER BY seq"
	else
		qn $S -d $DB -c "SELECT format('SELECT o.outcome, o.decision FROM idenfy_ingest(%L::jsonb, %L) o;', payload, event_type) FROM feed WHERE seq BETWEEN $2 AND $3 ORDER BY seq"
	fi
}
half=$(( (nfix + N) / 2 ))
ingest_both() {
	# ingest_both LABEL FN FROM TO: the same statements to the coordinator and to the single node
	statements "$2" "$3" "$4" >"$RUNC/$1.sql"
	t0=$(date +%s.%N)
	qn $C -d $DB -f "$RUNC/$1.sql" >"$RUNC/$1.cluster.out" 2>&1
	t1=$(date +%s.%N)
	qn $S -d $DB -f "$RUNC/$1.sql" >"$RUNC/$1.single.out" 2>&1
	t2=$(date +%s.%N)
	echo "# $1: $(wc -l <"$RUNC/$1.sql") callbacks, cluster $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, single node $(awk "BEGIN { printf \"%.1f\", $t2 - $t1 }") s"
	if cmp -s "$RUNC/$1.cluster.out" "$RUNC/$1.single.out"; then
		ok "$1: every outcome and decision as on one node ($(sort "$RUNC/$1.cluster.out" | cut -d'|' -f1 | uniq -c | sort -rn | awk '{printf "%s %s, ", $1, $2}')...)"
	else
		notok "$1: outcomes differ from one node: $(diff "$RUNC/$1.cluster.out" "$RUNC/$1.single.out" | head -5 | tr '\n' ' ')"
	fi
}
ingest_both "fixtures routed" routed 1 "$nfix"
ingest_both "generated routed" routed $((nfix + 1)) "$half"
ingest_both "generated plain" plain $((half + 1)) $((nfix + N))
check "no row in any shell table (coordinator, workers)" "$(shell_rows $DB)" ""

# ---- every table, view and query function: the same as on one node --------
digest_sql() {
	cat <<'SQL'
CREATE SCHEMA IF NOT EXISTS t;
CREATE OR REPLACE FUNCTION t.digest() RETURNS TABLE (name text, rows bigint, md5 text)
LANGUAGE plpgsql AS $$
DECLARE
	r record;
	cols text;
BEGIN
	-- every column, but arrival times and history ids (they depend on where and when a
	-- callback arrived; the history is compared by scanRef and payload fingerprint)
	FOR r IN SELECT c.oid, c.relname FROM pg_class c
	          WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind IN ('r', 'v')
	            AND c.relname <> 'signing_key' ORDER BY c.relname LOOP
		SELECT string_agg(format('x.%I', a.attname), ', ' ORDER BY a.attnum) INTO cols
		  FROM pg_attribute a
		 WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
		   AND a.attname NOT IN ('id', 'callback_id', 'received_at', 'first_received_at',
		                         'updated_at', 'created_at', 'erased_at', 'last_received_at');
		name := r.relname;
		EXECUTE format('SELECT count(*), md5(coalesce(string_agg(s.r, E''\n'' ORDER BY s.r), ''''))
		                  FROM (SELECT ROW(%s)::text AS r FROM idenfy.%I x) s', cols, r.relname)
		   INTO rows, md5;
		RETURN NEXT;
	END LOOP;
END $$;
SQL
}
digest_sql | qn $C -d $DB >/dev/null
digest_sql | qn $S -d $DB >/dev/null
compare_tables() {
	# compare_tables LABEL [SKIP]: every table and view of idenfy but SKIP (names), cluster vs single node
	local a b x skip="''"
	for x in ${2:-}; do skip="$skip,'$x'"; done
	a=$(qn $C -d $DB -c "SELECT name || ' ' || rows || ' ' || md5 FROM t.digest() WHERE name NOT IN ($skip)" 2>&1)
	b=$(qn $S -d $DB -c "SELECT name || ' ' || rows || ' ' || md5 FROM t.digest() WHERE name NOT IN ($skip)" 2>&1)
	if [ "$a" = "$b" ] && [ -n "$a" ]; then
		ok "$1: every table and view as on one node ($(echo "$a" | awk '{printf "%s %s, ", $1, $2}'))"
	else
		notok "$1: tables differ from one node: $(diff <(echo "$a") <(echo "$b") | head -8 | tr '\n' ' ')"
	fi
}
compare_tables "after ingest"

compare_query() {
	# compare_query LABEL SQL: the same rows from the coordinator and from the single node
	local a b
	a=$(qn $C -d $DB -c "$2" 2>&1)
	b=$(qn $S -d $DB -c "$2" 2>&1)
	if [ "$a" = "$b" ] && ! echo "$a" | grep -q ERROR; then
		ok "$1: as on one node ($(echo "$a" | wc -l) rows)"
	else
		notok "$1: differs from one node: $(diff <(echo "$a") <(echo "$b") | head -6 | tr '\n' ' ')"
	fi
}
REFS="SELECT DISTINCT scan_ref FROM (SELECT scan_ref FROM idenfy.verification UNION ALL SELECT other_scan_ref FROM idenfy.face_link) s"
compare_query "idenfy_effective_decision of every scanRef" \
	"SELECT r.scan_ref, idenfy_effective_decision(r.scan_ref) FROM ($REFS) r ORDER BY 1"
compare_query "idenfy_decision of every scanRef" \
	"SELECT r.scan_ref, d.decision, d.reasons, d.final, d.overall FROM ($REFS) r, idenfy_decision(r.scan_ref) d ORDER BY 1"
compare_query "idenfy_duplicate_faces of every linked scanRef" \
	"SELECT r.scan_ref, d.* FROM ($REFS) r, idenfy_duplicate_faces(r.scan_ref) d ORDER BY 1, 2, 3, 4"
compare_query "idenfy_face_groups()" "SELECT size, scan_refs, client_ids, decisions FROM idenfy_face_groups() ORDER BY 1, 2"
compare_query "idenfy_document_expired of every scanRef" \
	"SELECT r.scan_ref, idenfy_document_expired(r.scan_ref, '2030-01-01') FROM ($REFS) r ORDER BY 1"
compare_query "idenfy_expired_documents" "SELECT * FROM idenfy_expired_documents('2030-01-01') ORDER BY 1, 2"
compare_query "idenfy_expired_documents, every verification" "SELECT * FROM idenfy_expired_documents('2030-01-01', false) ORDER BY 1, 2"
compare_query "idenfy_expiring_documents" "SELECT * FROM idenfy_expiring_documents('1 year', '2029-01-01') ORDER BY 1, 2"
compare_query "view decision_counts" "SELECT * FROM idenfy.decision_counts ORDER BY 1"
compare_query "view verifications, GROUP BY decision" "SELECT decision, count(*) FROM idenfy.verifications GROUP BY 1 ORDER BY 1"
compare_query "view client_current_verification" "SELECT * FROM idenfy.client_current_verification ORDER BY 1"
compare_query "view callbacks (without ids and times)" "SELECT scan_ref, event_type, outcome, count(*) FROM idenfy.callbacks GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"

# the reports run on the shards: the plans
for sqlq in "SELECT * FROM idenfy.decision_counts" "SELECT decision, count(*) FROM idenfy.verifications GROUP BY 1"; do
	plan=$(qn $C -d $DB -c "EXPLAIN $sqlq")
	echo "# plan of: $sqlq"
	echo "$plan" | head -12 | sed 's/^/#   /'
	if echo "$plan" | grep -q 'Custom Scan (Citus Adaptive)' && echo "$plan" | grep -qE 'Task Count: ([2-9]|[1-9][0-9]+)'; then
		ok "pushed down to the shards: $sqlq"
	else
		notok "not pushed down: $sqlq"
	fi
done

# ---- concurrent delivery of one scanRef from several clients ---------------
# 4 clients send the same callbacks of 50 scanRefs (auto then manual, duplicates) at once,
# each in its own order, routed; the end state must be the single node's after a serial run
qn $S -d $DB -c "CREATE TABLE conc AS SELECT * FROM idenfy_test.gen_callbacks(400, 23) WHERE scan_ref IN
	(SELECT scan_ref FROM idenfy_test.gen_callbacks(400, 23) GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 50)"
for k in 0 1 2 3; do
	qn $S -d $DB -c "SELECT format('SELECT 1 FROM idenfy_ingest_routed(%L, %L::jsonb, %L);', scan_ref, payload, event_type)
		FROM conc ORDER BY CASE WHEN $k % 2 = 0 THEN seq ELSE -seq END" >"$RUNC/conc-$k.sql"
done
qn $S -d $DB -c "SELECT format('SELECT 1 FROM idenfy_ingest(%L::jsonb, %L);', payload, event_type) FROM conc ORDER BY seq" >"$RUNC/conc-serial.sql"
pids=""
for k in 0 1 2 3; do
	qn $C -d $DB -f "$RUNC/conc-$k.sql" >"$RUNC/conc-$k.out" 2>&1 &
	pids="$pids $!"
done
errs=0
for p in $pids; do wait "$p" || errs=$((errs + 1)); done
errs=$((errs + $(cat "$RUNC"/conc-?.out | grep -c ERROR)))
for k in 0 1 2 3; do qn $S -d $DB -f "$RUNC/conc-$k.sql" >/dev/null 2>&1; done
check "4 clients delivering the same scanRefs at once through the coordinator: no error" "$errs" 0
compare_tables "after concurrent delivery" "callback callbacks"

# ---- tag policy (a reference table): a change recomputes decisions on every shard ----
for db_port in $C $S; do
	qn $db_port -d $DB -c "INSERT INTO idenfy.tag_policy (tag, policy) VALUES ('AML_SUSPECTION', 'DENIED')
		ON CONFLICT (tag) DO UPDATE SET policy = EXCLUDED.policy" >"$RUNC/policy-$db_port.out" 2>&1
done
check "tag policy change on the coordinator" "$(grep -c ERROR "$RUNC/policy-$C.out")" 0
compare_tables "after a tag policy change"
compare_query "decisions after a tag policy change" "SELECT decision, count(*) FROM idenfy.verification GROUP BY 1 ORDER BY 1"

# ---- signing keys (a reference table) --------------------------------------
body='{"scanRef": "signed-citus-1", "final": false, "clientId": "signed-client"}'
for db_port in $C $S; do
	qn $db_port -d $DB -c "SELECT idenfy_signing_key_add('k1', 'a-secret')" >/dev/null 2>&1
done
sig=$(qn $S -d $DB -c "CREATE EXTENSION IF NOT EXISTS pgcrypto; SELECT encode(hmac('$body', 'a-secret', 'sha256'), 'hex')" | tail -1)
compare_query "idenfy_ingest_signed through the coordinator" \
	"SELECT scan_ref, outcome, decision FROM idenfy_ingest_signed('$body'::text, '$sig')"

# ---- erasure, retention, reprocessing across shards ------------------------
client=$(qn $S -d $DB -c "SELECT client_id FROM idenfy.verification WHERE client_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
scan=$(qn $S -d $DB -c "SELECT scan_ref FROM idenfy.verification ORDER BY scan_ref LIMIT 1 OFFSET 7")
compare_query "idenfy_forget_client" "SELECT * FROM idenfy_forget_client('$client')"
compare_query "idenfy_forget_scan" "SELECT * FROM idenfy_forget_scan('$scan')"
compare_query "idenfy_reprocess(true)" "SELECT * FROM idenfy_reprocess(true)"
compare_query "idenfy_purge keep_decision, every verification" "SELECT * FROM idenfy_purge('-1 day', true, 100000)"
compare_query "idenfy_purge, every verification" "SELECT * FROM idenfy_purge('-1 day', false, 100000)"
compare_tables "after erasure, reprocessing and purge"
check "no row in any shell table after all of it" "$(shell_rows $DB)" ""

# ---- idenfy-load --jobs 2 against the coordinator ---------------------------
qn $S -d $DB -c "SELECT json_build_object('event_type', event_type, 'payload', payload) FROM idenfy_test.gen_callbacks(2000, 31) ORDER BY seq" >"$RUNC/load.ndjson"
for db in idenfy_load_c idenfy_load_s; do :; done
qn $C -d postgres -c "CREATE DATABASE idenfy_load" >/dev/null
qn $C -d idenfy_load -c "CREATE EXTENSION citus" >/dev/null 2>&1
for p in ${PORTS[1]} ${PORTS[2]}; do
	qn $p -d postgres -c "CREATE DATABASE idenfy_load" >/dev/null
	qn $p -d idenfy_load -c "CREATE EXTENSION citus" >/dev/null
done
qn $C -d idenfy_load -c "SELECT citus_set_coordinator_host('127.0.0.1', $C)" -c "SELECT citus_add_node('127.0.0.1', ${PORTS[1]})" -c "SELECT citus_add_node('127.0.0.1', ${PORTS[2]})" >/dev/null
qn $C -d idenfy_load -c "CREATE EXTENSION idenfy" -f "$RUNC/readme.sql" >/dev/null 2>&1
qn $S -d postgres -c "CREATE DATABASE idenfy_load" >/dev/null
qn $S -d idenfy_load -c "CREATE EXTENSION idenfy" >/dev/null
t0=$(date +%s.%N)
"$PGBIN/idenfy-load" -d "host=127.0.0.1 port=$C dbname=idenfy_load user=postgres" --jobs 2 --quiet --json "$RUNC/load.ndjson" >"$RUNC/load-c.json" 2>&1
rc_c=$?
t1=$(date +%s.%N)
"$PGBIN/idenfy-load" -d "host=127.0.0.1 port=$S dbname=idenfy_load user=postgres" --jobs 2 --quiet --json "$RUNC/load.ndjson" >"$RUNC/load-s.json" 2>&1
t2=$(date +%s.%N)
echo "# idenfy-load --jobs 2, 2000 callbacks: coordinator $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s, single node $(awk "BEGIN { printf \"%.1f\", $t2 - $t1 }") s"
check "idenfy-load --jobs 2 against the coordinator: exit status" "$rc_c" 0
digest_sql | qn $C -d idenfy_load >/dev/null
digest_sql | qn $S -d idenfy_load >/dev/null
a=$(qn $C -d idenfy_load -c "SELECT name || ' ' || rows || ' ' || md5 FROM t.digest()" 2>&1)
b=$(qn $S -d idenfy_load -c "SELECT name || ' ' || rows || ' ' || md5 FROM t.digest()" 2>&1)
check "idenfy-load --jobs 2: every table as on one node" "$([ "$a" = "$b" ] && echo same || diff <(echo "$a") <(echo "$b") | head -4 | tr '\n' ' ')" same
check "idenfy-load: no row in any shell table" "$(shell_rows idenfy_load)" ""

# ---- the check above sees rows written past Citus ---------------------------
# with the direct insert path forced (idenfy.force_direct_insert, tests only), a new
# verification's first history row and document land in the coordinator's shells
qn $C -d idenfy_load -c "SET idenfy.force_direct_insert = on" \
	-c "SELECT outcome FROM idenfy_ingest('{\"scanRef\": \"forced-direct-1\", \"final\": false}'::jsonb)" >"$RUNC/forced.out" 2>&1
forced=$(shell_rows idenfy_load)
if [ -n "$forced" ]; then
	ok "forced direct inserts: the shell check sees them ($forced)"
else
	notok "forced direct inserts: the shell check saw nothing ($(tr '\n' ' ' <"$RUNC/forced.out"))"
fi

echo "# cluster suite: $(($(date +%s) - started)) s"
finish
echo "$((n - bad)) passed, $bad failed"
