#!/usr/bin/env bash
# bench/run.sh: the benchmark suite (README: Performance; bench/README.md).
#
#   bash bench/run.sh            # full run (20-40 minutes on 2 cores)
#   bash bench/run.sh --quick    # smoke check (~2 minutes)
#   bash bench/run.sh --queries  # only (d), the query latencies (~25 minutes),
#                                # to bench/results/queries/
#
# Run as root from the project folder of a clean clone.  Starts a throwaway
# cluster of its own in .run-bench/ (port 54339), compares three contenders
# on the same generated callbacks -- the floor (INSERT of the raw jsonb), the
# PL/pgSQL peer (bench/peer.sql) and idenfy_ingest -- and writes the report
# to bench/results/latest.md (quick: bench/results/quick/latest.md) with the
# raw numbers and EXPLAIN files beside it.
#
# Overrides (environment): BENCH_N callbacks for the bulk runs (20000),
# BENCH_REPEAT bulk repetitions (3), BENCH_SECONDS per pgbench run (10),
# BENCH_CLIENTS pgbench client counts ("1 4"), BENCH_PGBENCH_CALLBACKS
# callbacks staged for pgbench (100000), BENCH_VERIFICATIONS for the query
# latencies (1000000), BENCH_PERF=0/1 to skip or make the perf profiles of
# one bulk run of the extension and of the peer (default: full runs only),
# BENCH_KEEP=1 to keep the cluster's data folder at the end.

set -euo pipefail

MODE=full
for arg in "$@"; do
	case "$arg" in
		--quick) MODE=quick ;;
		--queries) MODE=queries ;;
		*) echo "usage: bash bench/run.sh [--quick | --queries]" >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."
export IDENFY_RUN_NAME=.run-bench IDENFY_TEST_PORT=54339
# shellcheck source=../test/env.sh
source test/env.sh

if [ "$MODE" = quick ]; then
	N=${BENCH_N:-2000}
	REPEAT=${BENCH_REPEAT:-1}
	SECS=${BENCH_SECONDS:-3}
	P=${BENCH_PGBENCH_CALLBACKS:-20000}
	PREPEAT=${BENCH_PGBENCH_REPEAT:-1}
	V=${BENCH_VERIFICATIONS:-20000}
	OUT=$ROOT/bench/results/quick
else
	N=${BENCH_N:-20000}
	REPEAT=${BENCH_REPEAT:-3}
	SECS=${BENCH_SECONDS:-10}
	P=${BENCH_PGBENCH_CALLBACKS:-100000}
	PREPEAT=${BENCH_PGBENCH_REPEAT:-3}
	V=${BENCH_VERIFICATIONS:-1000000}
	OUT=$ROOT/bench/results
	[ "$MODE" = queries ] && OUT=$ROOT/bench/results/queries
fi
CLIENTS=${BENCH_CLIENTS:-"1 4"}
SEED=1
CHUNK=10000					# callbacks per transaction when loading the 1M set
AS_OF=2026-01-01			# "expired documents as of" date of the queries
# the generator yields about 0.746 verifications per callback (test/gen/gen.sql)
M=$(( (V * 1000 + 745) / 746 ))

mkdir -p "$OUT/explain"
RAW=$OUT/raw.tsv
: >"$RAW"
rm -f "$OUT"/explain/*.txt "$OUT"/perf-*.txt

# ------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------
export PGOPTIONS="-c client_min_messages=warning"
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
raw() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RAW"; }
# the machine is shared: note its load (1-minute average) and other clusters
load_note() {
	raw loadavg "$1" - "$(cut -d' ' -f1 /proc/loadavg)"
	raw others "$1" - "$(pgrep -f 'postgres -D' | xargs -r ps -o args= -p | grep -vc "$RUN/data" || true)"
}
stamp() { date +%s; }

# timed DB SQL: run one statement, print its duration in ms (psql \timing)
timed() {
	local db=$1 sql=$2 out
	out=$(PGOPTIONS="$PGOPTIONS -c synchronize_seqscans=off" psql -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-c '\timing on' -c "$sql")
	sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' <<<"$out" | tail -1
}

# setup_contender DB WHO: the contender's tables in a fresh database
setup_contender() {
	local db=$1 who=$2
	case "$who" in
		floor_pglz) q -d "$db" -c "CREATE TABLE floor (payload jsonb)" ;;
		floor_lz4) q -d "$db" -c "CREATE TABLE floor (payload jsonb)" \
			-c "ALTER TABLE floor ALTER COLUMN payload SET COMPRESSION lz4" ;;
		ext) q -d "$db" -c "CREATE EXTENSION idenfy" ;;
		peer) q -d "$db" -f bench/peer.sql >/dev/null 2>&1 ||
			{ q -d "$db" -f bench/peer.sql; exit 1; } ;;
		rows) ;;	# the template has the extension
	esac
}

# the statement that ingests the staged callbacks
bulk_sql() {
	case "$1" in
		floor_*) echo "INSERT INTO floor SELECT s.payload FROM staged s" ;;
		ext) echo "SELECT count(*) FROM staged s, LATERAL idenfy_ingest(s.payload, s.event_type)" ;;
		peer) echo "SELECT count(*) FROM staged s, LATERAL peer.ingest(s.payload, s.event_type)" ;;
		rows) echo "WITH $(for t in $ROWS_TABLES; do printf '%s AS (INSERT INTO idenfy.%s SELECT * FROM rows_src.%s), ' "$t" "$t" "$t"; done | sed 's/, $//') SELECT 1" ;;
	esac
}

# the contender's tables, for sizes and resets
tables_sql() {
	case "$1" in
		floor_*) echo "SELECT 'public.floor'::regclass" ;;
		ext | rows) echo "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				   WHERE n.nspname = 'idenfy' AND c.relkind = 'r'" ;;
		peer) echo "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
					WHERE n.nspname = 'peer' AND c.relkind = 'r' AND c.relname NOT IN ('field', 'tag_policy')" ;;
	esac
}

history_table() {
	case "$1" in
		ext | rows) echo idenfy.callback ;;
		peer) echo peer.callback ;;
		*) echo floor ;;
	esac
}

# ------------------------------------------------------------------------
# a fresh cluster
# ------------------------------------------------------------------------
choose_run_dir
stop_cluster
rm -rf "$RUN/data"
setup_all
trap 'stop_cluster' EXIT

# max_locks_per_transaction: the peer takes one advisory lock per scanRef
# (idenfy_ingest locks verification rows instead), held to the end of the
# transaction; one statement over N callbacks holds up to N of them, and the
# shared lock table has max_locks_per_transaction * (max_connections +
# workers) = x 82 slots.
NEED=$(( ((N > CHUNK ? N : CHUNK) * 5 / 4 + 81) / 82 ))
MLPT=64
while [ "$MLPT" -lt "$NEED" ]; do MLPT=$((MLPT * 2)); done
q -d postgres -c "ALTER SYSTEM SET max_locks_per_transaction = $MLPT" \
	-c "ALTER SYSTEM SET max_wal_size = '8GB'" \
	-c "ALTER SYSTEM SET checkpoint_timeout = '30min'"
as_postgres "$PGBIN/pg_ctl -D '$RUN/data' -l '$RUN/server.log' -m fast -w restart" >/dev/null

{
	echo "mode	$MODE"
	echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "commit	$(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src sql 2>/dev/null || echo ' (with uncommitted changes to src/ or sql/)')"
	echo "n	$N"
	echo "repeat	$REPEAT"
	echo "seconds	$SECS"
	echo "clients	$CLIENTS"
	echo "pgbench_callbacks	$P"
	echo "verifications_wanted	$V"
	echo "big_callbacks	$M"
	echo "chunk	$CHUNK"
	echo "as_of	$AS_OF"
	echo "mlpt	$MLPT"
	echo "nproc	$(nproc)"
	echo "cpu	$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
	echo "memory	$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
	echo "kernel	$(uname -sr)"
	echo "pg	$(q -d postgres -c 'SHOW server_version')"
} | while IFS=$'\t' read -r k v; do raw meta "$k" - "$v"; done
q -d postgres -F $'\t' -c "SELECT name, setting || COALESCE(' ' || unit, ''), source FROM pg_settings
	WHERE source NOT IN ('default', 'override', 'client', 'session') ORDER BY name" |
	while IFS=$'\t' read -r k v s; do raw setting "$k" "$s" "$v"; done

# ------------------------------------------------------------------------
# staged callbacks: templates copied into every fresh database
# ------------------------------------------------------------------------
# STORAGE PLAIN: payloads stay uncompressed and inline, so each contender
# receives the jsonb as a client's bind parameter would arrive (not a
# compressed datum it could store again without compressing it).
make_template() {
	local db=$1 n=$2
	say "generating $n callbacks into $db"
	q -d postgres -c "CREATE DATABASE $db"
	q -d "$db" -f test/gen/gen.sql >/dev/null
	q -d "$db" -c "CREATE TABLE staged (seq int PRIMARY KEY, scan_ref text, event_type text, payload jsonb)" \
		-c "ALTER TABLE staged ALTER COLUMN payload SET STORAGE PLAIN" \
		-c "INSERT INTO staged SELECT * FROM idenfy_test.gen_callbacks($n, $SEED)" \
		-c "CREATE SEQUENCE pick" \
		-c "VACUUM (FREEZE, ANALYZE) staged"
}
if [ "$MODE" != queries ]; then	# (a), (b) and (c); --queries: only (d)
make_template bench_tpl_a "$N"
make_template bench_tpl_b "$P"
q -d bench_tpl_a -F $'\t' -c "SELECT count(*), count(DISTINCT scan_ref),
		count(*) - count(DISTINCT (scan_ref, md5(payload::text))), round(avg(pg_column_size(payload)))
	FROM staged" | {
	IFS=$'\t' read -r rows refs dups avg
	raw staged rows - "$rows"; raw staged scan_refs - "$refs"; raw staged duplicates - "$dups"
	raw staged avg_bytes - "$avg"
}

# ------------------------------------------------------------------------
# (a) in-server bulk cost and (c) WAL and storage per callback
# ------------------------------------------------------------------------
#
# rows: a lower bound, not a contender.  The rows idenfy_ingest wrote for the
# staged callbacks, copied by one set-based statement into an empty copy of
# the extension's tables (same indexes and triggers; payloads stored plain in
# the source, so they are compressed again): what writing those rows costs
# with no reading, no rules and no per-callback statements.  Its source,
# bench_tpl_rows, is made from the first idenfy_ingest run.
ROWS_TABLES="callback verification document face_link document_expiration"
make_rows_template() {
	local t
	q -d postgres -c "DROP DATABASE IF EXISTS bench_tpl_rows" -c "CREATE DATABASE bench_tpl_rows TEMPLATE bench_a"
	q -d bench_tpl_rows -c "CREATE SCHEMA rows_src"
	for t in $ROWS_TABLES; do
		q -d bench_tpl_rows -c "CREATE TABLE rows_src.$t (LIKE idenfy.$t)" \
			-c "ALTER TABLE rows_src.$t SET (autovacuum_enabled = off)"
	done
	q -d bench_tpl_rows -c "ALTER TABLE rows_src.callback ALTER COLUMN payload SET STORAGE PLAIN"
	for t in $ROWS_TABLES; do
		if [ "$t" = callback ]; then
			# payload::text::jsonb: a fresh, uncompressed datum
			q -d bench_tpl_rows -c "INSERT INTO rows_src.callback SELECT scan_ref, payload_sha256, id, received_at,
				event_type, event_type_raw, final, has_manual, outcome, payload::text::jsonb FROM idenfy.callback ORDER BY id"
		else
			q -d bench_tpl_rows -c "INSERT INTO rows_src.$t SELECT * FROM idenfy.$t"
		fi
	done
	q -d bench_tpl_rows -c "TRUNCATE $(echo $ROWS_TABLES | sed 's/\([a-z_]*\)/idenfy.\1/g; s/ /, /g')" \
		-c "DROP TABLE staged" -c "VACUUM (FREEZE, ANALYZE)"
}

load_note "before (a)"
CONTENDERS="floor_pglz floor_lz4 ext rows peer"
for rep in $(seq 1 "$REPEAT"); do
	for who in $CONTENDERS; do
		q -d postgres -c "DROP DATABASE IF EXISTS bench_a"
		if [ "$who" = rows ]; then
			q -d postgres -c "CREATE DATABASE bench_a TEMPLATE bench_tpl_rows"
		else
			q -d postgres -c "CREATE DATABASE bench_a TEMPLATE bench_tpl_a"
		fi
		setup_contender bench_a "$who"
		q -d bench_a -c "CHECKPOINT"
		lsn=$(q -d bench_a -c "SELECT pg_current_wal_lsn()")
		ms=$(timed bench_a "$(bulk_sql "$who")")
		wal=$(q -d bench_a -c "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$lsn')")
		bytes=$(q -d bench_a -c "SELECT sum(pg_total_relation_size(t)) FROM ($(tables_sql "$who")) x(t)")
		say "(a) rep $rep $who: $ms ms, WAL $wal bytes, relations $bytes bytes"
		raw bulk_ms "$who" "$rep" "$ms"
		raw bulk_wal "$who" "$rep" "$wal"
		raw bulk_bytes "$who" "$rep" "$bytes"
		if [ "$rep" = 1 ]; then
			q -d bench_a -F $'\t' -c "SELECT t::text, pg_relation_size(t), pg_total_relation_size(t) - pg_relation_size(t) - pg_indexes_size(t), pg_indexes_size(t)
				FROM ($(tables_sql "$who")) x(t) ORDER BY 1" |
				while IFS=$'\t' read -r rel heap toast idx; do raw relsize "$who" "$rel" "$heap $toast $idx"; done
			case "$who" in
				ext | peer)
					q -d bench_a -F $'\t' -c "SELECT outcome, count(*) FROM $(history_table "$who") GROUP BY 1 ORDER BY 1" |
						while IFS=$'\t' read -r o c; do raw bulk_outcome "$who" "$o" "$c"; done ;;
			esac
			[ "$who" = ext ] && make_rows_template
		fi
	done
done

# where the time goes: perf on the backend of one extra, unmeasured bulk run
# each of idenfy_ingest and the peer (BENCH_PERF=0 to skip)
if [ "${BENCH_PERF:-$([ "$MODE" = full ] && echo 1 || echo 0)}" = 1 ] && command -v perf >/dev/null; then
	for who in ext peer; do
		q -d postgres -c "DROP DATABASE IF EXISTS bench_a" -c "CREATE DATABASE bench_a TEMPLATE bench_tpl_a"
		setup_contender bench_a "$who"
		PGAPPNAME=bench_perf PGOPTIONS="$PGOPTIONS -c synchronize_seqscans=off" psql -X -q -d bench_a \
			-c "SELECT pg_sleep(1)" -c "$(bulk_sql "$who")" >/dev/null &
		psql_pid=$!
		pid=
		for _ in $(seq 50); do
			pid=$(q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'bench_perf'")
			[ -n "$pid" ] && break
			sleep 0.1
		done
		perf record -g -e cpu-clock -F 999 -p "$pid" -o "$RUN/perf-$who.data" >/dev/null 2>&1 &
		perf_pid=$!
		wait "$psql_pid"
		sleep 0.5
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" || true
		{
			echo "# perf record -g -e cpu-clock -p <backend> during: $(bulk_sql "$who")"
			echo "# inclusive (children) share of the backend's samples, top 80"
			perf report -i "$RUN/perf-$who.data" --children --sort symbol --stdio -g none 2>/dev/null |
				grep -v '^$' | grep -v '^#' | grep -v ' 0x0000' | head -80
			echo
			echo "# self share, top 50"
			perf report -i "$RUN/perf-$who.data" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
				grep -v '^$' | grep -v '^#' | head -50
		} >"$OUT/perf-$who.txt" || true
		rm -f "$RUN/perf-$who.data"
		say "perf profile of the $who bulk run: $OUT/perf-$who.txt"
	done
fi
q -d postgres -c "DROP DATABASE IF EXISTS bench_a"

# ------------------------------------------------------------------------
# (b) per-call throughput: pgbench, one callback per transaction
# ------------------------------------------------------------------------
# Each call takes the next staged callback (a sequence), so calls spread over
# distinct callbacks in delivery order; the duplicates are the generator's
# own redeliveries and, once the sequence wraps past the staged set, every
# call (reported per run).  ext_nonotify: idenfy_ingest with
# idenfy.notify_channel = '' (no NOTIFY), a diagnostic for the lead.
load_note "before (b)"
PGB="floor_lz4 ext ext_nonotify peer"
for who in $PGB; do
	db=pgb_$who
	q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE bench_tpl_b"
	setup_contender "$db" "${who%_nonotify}"
done
q -d postgres -c "ALTER DATABASE pgb_ext_nonotify SET idenfy.notify_channel = ''"
cat >"$RUN/pgb_floor_lz4.sql" <<'SQL'
INSERT INTO floor SELECT s.payload FROM staged s WHERE s.seq = (SELECT (nextval('pick') - 1) % :n + 1);
SQL
cat >"$RUN/pgb_ext.sql" <<'SQL'
SELECT count(*) FROM staged s, LATERAL idenfy_ingest(s.payload, s.event_type) WHERE s.seq = (SELECT (nextval('pick') - 1) % :n + 1);
SQL
cp "$RUN/pgb_ext.sql" "$RUN/pgb_ext_nonotify.sql"
cat >"$RUN/pgb_peer.sql" <<'SQL'
SELECT count(*) FROM staged s, LATERAL peer.ingest(s.payload, s.event_type) WHERE s.seq = (SELECT (nextval('pick') - 1) % :n + 1);
SQL
for sync in off on; do
	for c in $CLIENTS; do
		for prep in $(seq 1 "$PREPEAT"); do
		for who in $PGB; do
			db=pgb_$who
			q -d "$db" -c "ALTER DATABASE $db SET synchronous_commit = $sync" \
				-c "TRUNCATE $(q -d "$db" -c "SELECT string_agg(t::text, ', ') FROM ($(tables_sql "${who%_nonotify}")) x(t)") RESTART IDENTITY" \
				-c "ALTER SEQUENCE pick RESTART" -c "CHECKPOINT"
			out=$(pgbench -n -M prepared -c "$c" -j "$c" -T "$SECS" -D n="$P" -f "$RUN/pgb_$who.sql" "$db" 2>&1) || {
				echo "$out" >&2
				exit 1
			}
			tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | tail -1)
			txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
			stored=$(q -d "$db" -c "SELECT count(*) FROM $(history_table "${who%_nonotify}")")
			say "(b) $who sync=$sync clients=$c run $prep: $tps tps, $txns calls, $stored stored"
			raw tps "$who" "$sync/$c/$prep" "$tps"
			raw calls "$who" "$sync/$c/$prep" "$txns"
			raw stored "$who" "$sync/$c/$prep" "$stored"
		done
		done
	done
done
for who in $PGB; do q -d postgres -c "DROP DATABASE pgb_$who"; done
q -d postgres -c "DROP DATABASE bench_tpl_a" -c "DROP DATABASE bench_tpl_b"
fi	# MODE != queries

# ------------------------------------------------------------------------
# (d) query latency at BENCH_VERIFICATIONS verifications
# ------------------------------------------------------------------------
load_note "before (d)"
say "(d) generating $M callbacks (about $V verifications)"
t0=$(stamp)
make_template bench_big "$M"
raw gen_seconds - - $(( $(stamp) - t0 ))
q -d bench_big -c "CREATE EXTENSION idenfy"
q -d bench_big -f bench/peer.sql >/dev/null 2>&1

load() {
	local who=$1 fn=$2 ms
	say "(d) loading $M callbacks with $fn, $CHUNK per transaction"
	q -d bench_big -c "CHECKPOINT"
	ms=$(timed bench_big "DO \$\$
DECLARE
	a int;
	n int := (SELECT max(seq) FROM staged);
BEGIN
	FOR a IN 1..n BY $CHUNK LOOP
		PERFORM count(*) FROM staged s, LATERAL $fn(s.payload, s.event_type) AS r
		  WHERE s.seq BETWEEN a AND a + $CHUNK - 1;
		COMMIT;
	END LOOP;
END
\$\$")
	say "(d) $who: $ms ms"
	raw load_ms "$who" - "$ms"
}
load ext idenfy_ingest
load peer peer.ingest
t0=$(stamp)
q -d bench_big -c "VACUUM (ANALYZE)"
raw vacuum_seconds - - $(( $(stamp) - t0 ))
q -d bench_big -F $'\t' -c "SELECT (SELECT count(*) FROM idenfy.verification), (SELECT count(*) FROM peer.verification),
		(SELECT count(*) FROM idenfy.face_link), (SELECT count(*) FROM idenfy.callback)" | {
	IFS=$'\t' read -r ev pv fl cb
	raw big verifications ext "$ev"; raw big verifications peer "$pv"
	raw big face_links ext "$fl"; raw big history ext "$cb"
}
for who in ext peer; do
	q -d bench_big -c "SELECT sum(pg_total_relation_size(t)) FROM ($(tables_sql "$who")) x(t)" |
		while read -r b; do raw big bytes "$who" "$b"; done
done

# do the two agree?  (the peer is only a fair peer if it does the same job)
DECIDE="peer.decide(p.final, p.cancelled, p.overall, COALESCE(p.manual_face, p.auto_face),
	COALESCE(p.manual_document, p.auto_document), p.unknown_values IS NOT NULL, p.fraud_tags || p.mismatch_tags)"
agree() { raw agree "$1" - "$(q -d bench_big -c "$2")"; }
agree "verifications only in one of the two" \
	"SELECT count(*) FROM idenfy.verification v FULL JOIN peer.verification p USING (scan_ref) WHERE v.scan_ref IS NULL OR p.scan_ref IS NULL"
agree "verifications whose decisions differ" \
	"SELECT count(*) FROM idenfy.verification v JOIN peer.verification p USING (scan_ref) WHERE v.decision::text IS DISTINCT FROM $DECIDE"
agree "history rows (payload, outcome) that differ" \
	"SELECT count(*) FROM ((SELECT scan_ref, md5(payload::text), outcome::text FROM idenfy.callback EXCEPT ALL SELECT scan_ref, md5(payload::text), outcome FROM peer.callback)
	  UNION ALL (SELECT scan_ref, md5(payload::text), outcome FROM peer.callback EXCEPT ALL SELECT scan_ref, md5(payload::text), outcome::text FROM idenfy.callback)) x"
agree "child rows (file URLs, services, face links, documents) that differ" \
	"SELECT count(*) FROM ((SELECT scan_ref, name, url, expires_at FROM idenfy.file_url EXCEPT ALL SELECT scan_ref, name, url, expires_at FROM peer.file_url)
	  UNION ALL (SELECT scan_ref, name, url, expires_at FROM peer.file_url EXCEPT ALL SELECT scan_ref, name, url, expires_at FROM idenfy.file_url)) x"
agree "expired documents that differ" \
	"SELECT count(*) FROM ((SELECT client_id, scan_ref, doc_type::text, expiry, source FROM idenfy_expired_documents('$AS_OF') EXCEPT ALL SELECT * FROM peer.expired_documents('$AS_OF'))
	  UNION ALL (SELECT * FROM peer.expired_documents('$AS_OF') EXCEPT ALL SELECT client_id, scan_ref, doc_type::text, expiry, source FROM idenfy_expired_documents('$AS_OF'))) x"
agree "face groups that differ" \
	"SELECT count(*) FROM ((SELECT group_id, size, scan_refs, client_ids, decisions::text[] FROM idenfy_face_groups() EXCEPT ALL SELECT * FROM peer.face_groups())
	  UNION ALL (SELECT * FROM peer.face_groups() EXCEPT ALL SELECT group_id, size, scan_refs, client_ids, decisions::text[] FROM idenfy_face_groups())) x"

# the timing function: median of planning + execution time (EXPLAIN ANALYZE,
# TIMING OFF), each run on the next sample key, after one warm-up per key
q -d bench_big <<'SQL'
CREATE FUNCTION bench_time(query text, keys text[], runs int, OUT median_ms float8, OUT runs_ms float8[])
LANGUAGE plpgsql AS $$
DECLARE
	k text;
	plan json;
	i int;
BEGIN
	FOREACH k IN ARRAY keys LOOP
		EXECUTE format(query, k);
	END LOOP;
	runs_ms := '{}';
	FOR i IN 1..runs LOOP
		EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ' || format(query, keys[1 + (i - 1) % cardinality(keys)])
		   INTO plan;
		runs_ms := runs_ms || ((plan -> 0 ->> 'Planning Time')::float8 + (plan -> 0 ->> 'Execution Time')::float8);
	END LOOP;
	SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r) INTO median_ms FROM unnest(runs_ms) r;
END
$$;
SQL
KEYS1=$(q -d bench_big -c "SELECT array_agg(scan_ref ORDER BY seq)::text FROM staged
	WHERE seq IN (SELECT (SELECT max(seq) FROM staged) * k / 6 FROM generate_series(1, 5) k)")
KEYS2=$(q -d bench_big -c "SELECT array_agg(scan_ref)::text FROM (
	SELECT f.scan_ref FROM idenfy.face_link f GROUP BY f.scan_ref
	 ORDER BY bool_or(EXISTS (SELECT 1 FROM idenfy.face_link g WHERE g.other_scan_ref = f.scan_ref)) DESC, f.scan_ref
	 LIMIT 5) x")
query() {	# query NAME RUNS KEYS EXT_SQL PEER_SQL
	local name=$1 runs=$2 keys=$3 ext=$4 peer=$5 who sql r
	for who in ext peer; do
		if [ "$who" = ext ]; then sql=$ext; else sql=$peer; fi
		r=$(q -d bench_big -F $'\t' -v sql="$sql" -v keys="$keys" -v runs="$runs" <<'SQL'
SELECT median_ms, runs_ms::text FROM bench_time(:'sql', :'keys', :runs);
SQL
		)
		raw query_ms "$who" "$name" "${r%%$'\t'*}"
		raw query_runs "$who" "$name" "${r#*$'\t'}"
		say "(d) $name $who: ${r%%$'\t'*} ms"
		# the plans, top level and nested (auto_explain), for the first key
		{
			echo "-- $name ($who): $sql"
			echo "-- with the first sample key: $keys"
			echo "-- EXPLAIN (ANALYZE, BUFFERS):"
			q -d bench_big -v sql="$sql" -v keys="$keys" <<'SQL'
SELECT format(:'sql', (:'keys'::text[])[1]) AS s \gset
EXPLAIN (ANALYZE, BUFFERS) :s;
SQL
			[ "$who" = ext ] || continue	# the peer's nested plans: one per row (peer.decide)
			echo
			echo "-- the same statement under auto_explain (log_nested_statements, analyze, buffers,"
			echo "-- timing off): the plans of the statements run inside the functions, then the top level"
			psql -X -q -o /dev/null -d bench_big -v sql="$sql" -v keys="$keys" 2>&1 <<'SQL' | sed 's/^NOTICE:  //'
SELECT format(:'sql', (:'keys'::text[])[1]) AS s \gset
LOAD 'auto_explain';
SET client_min_messages = notice;
SET auto_explain.log_min_duration = 0;
SET auto_explain.log_analyze = on;
SET auto_explain.log_buffers = on;
SET auto_explain.log_timing = off;
SET auto_explain.log_nested_statements = on;
SET auto_explain.log_level = notice;
:s;
SQL
		} >"$OUT/explain/$who-$name.txt" 2>&1
	done
}
load_note "before the queries"
query decision_of_one_scanref 5 "$KEYS1" \
	"SELECT idenfy_effective_decision(%L)" \
	"SELECT peer.effective_decision(%L)"
query duplicate_faces_of_one_scanref 5 "$KEYS2" \
	"SELECT * FROM idenfy_duplicate_faces(%L)" \
	"SELECT * FROM peer.duplicate_faces(%L)"
query decision_counts 5 "{-}" \
	"SELECT decision, verifications FROM idenfy.decision_counts" \
	"SELECT $DECIDE AS decision, count(*) FROM peer.verification p GROUP BY 1"
query decision_counts_masked_view 5 "{-}" \
	"SELECT decision, count(*) FROM idenfy.verifications GROUP BY decision" \
	"SELECT $DECIDE AS decision, count(*) FROM peer.verification p GROUP BY 1"
query expired_documents 3 "{-}" \
	"SELECT * FROM idenfy_expired_documents('$AS_OF')" \
	"SELECT * FROM peer.expired_documents('$AS_OF')"
query face_groups 3 "{-}" \
	"SELECT * FROM idenfy_face_groups()" \
	"SELECT * FROM peer.face_groups()"
q -d bench_big -F $'\t' -c "SELECT (SELECT count(*) FROM idenfy_expired_documents('$AS_OF')), (SELECT count(*) FROM idenfy_face_groups())" | {
	IFS=$'\t' read -r e g
	raw big expired_rows ext "$e"; raw big face_groups ext "$g"
}
load_note "at the end"
q -d postgres -c "DROP DATABASE bench_big"

# ------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------
if [ "$MODE" = full ]; then REPORT=$ROOT/bench/results/latest.md; else REPORT=$OUT/latest.md; fi
if [ "$MODE" = queries ]; then	# report.py needs (a)-(c): a table of (d) alone
	awk -F'\t' 'BEGIN { print "# bench/run.sh --queries: (d) query latency, median ms\n\n| query | idenfy | peer | peer / idenfy |\n|---|---:|---:|---:|" }
		$1 == "query_ms" { ms[$3, $2] = $4; if (!($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
		$1 == "agree" { agree = agree "\n- " $2 ": " $4 }
		END { for (i = 1; i <= n; i++) { q = order[i]; printf "| %s | %.3f | %.3f | %.1f |\n", q, ms[q, "ext"], ms[q, "peer"], ms[q, "peer"] / ms[q, "ext"] }
		      print "\nDisagreements between the two (raw.tsv has every number):" agree }' "$RAW" >"$REPORT"
else
	python3 bench/report.py "$RAW" >"$REPORT"
fi
cat "$REPORT"
say "report: $REPORT"

# the cluster holds gigabytes of WAL and dropped data: remove it (BENCH_KEEP=1 keeps it)
if [ "${BENCH_KEEP:-0}" != 1 ]; then
	stop_cluster
	rm -rf "$RUN/data"
fi
