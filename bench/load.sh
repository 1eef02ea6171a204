#!/usr/bin/env bash
# bench/load.sh: how fast idenfy-load ingests a file of callbacks, against
# two other routes, each on a fresh database of the same server.
#
#   PGHOST=... PGPORT=... bash bench/load.sh [N]      # N callbacks, default 100000
#
# Needs a running server (PGHOST, PGPORT, PGUSER; PGDATABASE names a
# database to connect to for CREATE DATABASE, default postgres) where the
# idenfy extension is installed, and a built src/load/idenfy-load (or
# IDENFY_LOAD).  Generates N callbacks with test/gen/gen.sql (seed
# BENCH_SEED, default 1), or, without it, from test/load/fixtures; then
# times:
#   1. idenfy-load: NDJSON of {"event_type", "payload"} wrappers, pipeline
#      mode, BENCH_BATCH (default 500) callbacks per transaction, each batch
#      without savepoints (the default), one connection (--jobs 1);
#   2. the same with --jobs BENCH_JOBS (default 2): that many connections,
#      the callbacks routed by scanRef;
#   3. the same as 1 with --savepoints: a savepoint per callback (the
#      careful mode, which the default falls back to for a batch with a bad
#      record);
#   4. psql running one "SELECT * FROM idenfy_ingest('...'::jsonb, '...');"
#      per callback, autocommit (what a naive script does);
#   5. \copy of the raw payloads into a one-column jsonb table: the floor,
#      the cost of moving the bytes into PostgreSQL without any processing.
# Each route starts on a fresh database after a CHECKPOINT (so that no route
# pays for the checkpoint the previous one's WAL would start).
# Prints a table with seconds, callbacks/s, ratios of times ("x floor",
# "x idenfy-load": how many times longer than that route takes, route 1;
# "psql speedup": how many times faster than route 4), and idenfy-load's
# peak RSS (GNU time, package "time").  BENCH_SAVEPOINTS=0 skips route 3.
# Scratch files in a mktemp -d folder; the databases
# idenfy_bench_{gen,load,psql,copy} are dropped at the end.

set -euo pipefail

N=${1:-100000}
case "$N" in
	'' | *[!0-9]*) echo "usage: bash bench/load.sh [N]" >&2; exit 2 ;;
esac
case "${BENCH_JOBS:-2}" in
	'' | *[!0-9]*) echo "bench/load.sh: BENCH_JOBS must be a number of connections" >&2; exit 2 ;;
esac
SEED=${BENCH_SEED:-1}
BATCH=${BENCH_BATCH:-500}
JOBS=${BENCH_JOBS:-2}
SAVEPOINTS=${BENCH_SAVEPOINTS:-1}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOAD=${IDENFY_LOAD:-$ROOT/src/load/idenfy-load}
ADMIN_DB=${PGDATABASE:-postgres}
if [ "$(id -u)" = 0 ] && [ -z "${PGUSER:-}" ]; then
	export PGUSER=postgres
fi
DBS="idenfy_bench_gen idenfy_bench_load idenfy_bench_psql idenfy_bench_copy"

TMP=$(mktemp -d)
chmod 755 "$TMP"
cleanup() {
	for db in $DBS; do
		psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }

fresh_db() {
	psql -X -q -d "$ADMIN_DB" -c "SET client_min_messages = warning" \
		-c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
}

# start a route with no checkpoint due: the previous route's gigabyte of WAL
# would otherwise start one during the next route (its writes, and the full
# page images after it), whichever route that is
checkpoint() {
	psql -X -q -d "$ADMIN_DB" -c "CHECKPOINT" >/dev/null 2>&1 || true
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

if [ ! -x "$LOAD" ]; then
	say "building idenfy-load"
	make -s -C "$ROOT/src/load"
fi
TIME=/usr/bin/time
if [ ! -x "$TIME" ] && [ "$(id -u)" = 0 ]; then
	say "installing GNU time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 || true
fi

# --- the callbacks -------------------------------------------------------------

say "generating $N callbacks"
if [ -f "$ROOT/test/gen/gen.sql" ]; then
	fresh_db idenfy_bench_gen
	psql -X -q -v ON_ERROR_STOP=1 -d idenfy_bench_gen -f "$ROOT/test/gen/gen.sql" >/dev/null
	psql -X -q -v ON_ERROR_STOP=1 -d idenfy_bench_gen \
		-c "CREATE TABLE g AS SELECT seq, event_type, payload FROM idenfy_test.gen_callbacks($N, $SEED)"
	gen() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d idenfy_bench_gen -c "$1 FROM g ORDER BY seq"; }
	GENERATOR="test/gen/gen.sql, seed $SEED"
else
	# a tiny deterministic stand-in: the fixtures under numbered scanRefs
	fresh_db idenfy_bench_gen
	for f in "$ROOT"/test/load/fixtures/*.json; do
		tr -d '\n' <"$f"
		echo
	done >"$TMP/fixtures.ndjson"
	psql -X -q -v ON_ERROR_STOP=1 -d idenfy_bench_gen \
		-c "CREATE TABLE f (i serial, payload jsonb)" \
		-c "\\copy f (payload) FROM '$TMP/fixtures.ndjson' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" \
		-c "CREATE TABLE g AS SELECT s AS seq, NULL::text AS event_type,
		           jsonb_set(f.payload, '{scanRef}', to_jsonb('bench-' || s)) AS payload
		      FROM generate_series(1, $N) s
		      JOIN f ON f.i = 1 + s % (SELECT count(*) FROM f)"
	gen() { psql -X -A -t -q -v ON_ERROR_STOP=1 -d idenfy_bench_gen -c "$1 FROM g ORDER BY seq"; }
	GENERATOR="test/load/fixtures (no test/gen/gen.sql)"
fi
gen "SELECT jsonb_build_object('event_type', event_type, 'payload', payload)::text" \
	>"$TMP/wrapped.ndjson"
gen "SELECT format('SELECT * FROM idenfy_ingest(%L::jsonb, %L);', payload::text, event_type)" \
	>"$TMP/statements.sql"
gen "SELECT payload::text" >"$TMP/payload.ndjson"
psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE idenfy_bench_gen" >/dev/null
BYTES=$(wc -c <"$TMP/payload.ndjson")

# --- 1. to 3. idenfy-load ------------------------------------------------------------

# run_load TAG [OPTION]...: time idenfy-load on a fresh database; sets
# s_TAG (seconds), rc_TAG, rss_TAG, rows_TAG, and leaves its summary in
# $TMP/TAG.json, its stderr in $TMP/TAG.err
run_load() {
	local tag=$1 rc=0 t0 t1 rss rows
	shift
	fresh_db idenfy_bench_load
	psql -X -q -d idenfy_bench_load -c "CREATE EXTENSION idenfy"
	checkpoint
	t0=$(now)
	if [ -x "$TIME" ]; then
		"$TIME" -v -o "$TMP/time.txt" "$LOAD" -q --json --batch "$BATCH" "$@" -d idenfy_bench_load \
			"$TMP/wrapped.ndjson" >"$TMP/$tag.json" 2>"$TMP/$tag.err" || rc=$?
	else
		"$LOAD" -q --json --batch "$BATCH" "$@" -d idenfy_bench_load \
			"$TMP/wrapped.ndjson" >"$TMP/$tag.json" 2>"$TMP/$tag.err" || rc=$?
	fi
	t1=$(now)
	rss=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$TMP/time.txt" 2>/dev/null || true)
	rows=$(psql -X -A -t -q -d idenfy_bench_load \
		-c "SELECT (SELECT count(*) FROM idenfy.callback) || ' callbacks, ' || (SELECT count(*) FROM idenfy.verification) || ' verifications'")
	psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE idenfy_bench_load" >/dev/null
	rm -f "$TMP/time.txt"
	printf -v "s_$tag" '%s' "$(elapsed "$t0" "$t1")"
	printf -v "rc_$tag" '%s' "$rc"
	printf -v "rss_$tag" '%s' "${rss:-?}"
	printf -v "rows_$tag" '%s' "$rows"
}

say "1/5 idenfy-load"
run_load load
say "2/5 idenfy-load --jobs $JOBS"
run_load jobs --jobs "$JOBS"
if [ "$SAVEPOINTS" != 0 ]; then
	say "3/5 idenfy-load --savepoints"
	run_load care --savepoints
else
	s_care=0
fi

# --- 4. psql, one statement per callback ---------------------------------------------

say "4/5 psql, one statement per callback"
fresh_db idenfy_bench_psql
psql -X -q -d idenfy_bench_psql -c "CREATE EXTENSION idenfy"
checkpoint
t0=$(now)
psql -X -q -d idenfy_bench_psql -o /dev/null -f "$TMP/statements.sql" 2>"$TMP/psql.err" || true
t1=$(now)
s_psql=$(elapsed "$t0" "$t1")
psql_errors=$(grep -c '^psql:.*ERROR' "$TMP/psql.err" || true)
psql_rows=$(psql -X -A -t -q -d idenfy_bench_psql \
	-c "SELECT (SELECT count(*) FROM idenfy.callback) || ' callbacks, ' || (SELECT count(*) FROM idenfy.verification) || ' verifications'")
psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE idenfy_bench_psql" >/dev/null

# --- 5. \copy of the raw jsonb: the floor ----------------------------------------------

say "5/5 \\copy of the raw jsonb"
fresh_db idenfy_bench_copy
psql -X -q -d idenfy_bench_copy -c "CREATE TABLE raw_callback (payload jsonb)"
checkpoint
t0=$(now)
psql -X -q -v ON_ERROR_STOP=1 -d idenfy_bench_copy \
	-c "\\copy raw_callback FROM '$TMP/payload.ndjson' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')"
t1=$(now)
s_copy=$(elapsed "$t0" "$t1")
copy_rows=$(psql -X -A -t -q -d idenfy_bench_copy -c "SELECT count(*) FROM raw_callback")
psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE idenfy_bench_copy" >/dev/null

# --- report -----------------------------------------------------------------------

server=$(psql -X -A -t -q -d "$ADMIN_DB" -c "SHOW server_version")
ext=$(psql -X -A -t -q -d "$ADMIN_DB" -c "SELECT default_version FROM pg_available_extensions WHERE name = 'idenfy'")
echo
echo "idenfy-load benchmark: $N callbacks ($((BYTES / 1024)) KiB of JSON, $GENERATOR)"
echo "PostgreSQL $server, idenfy $ext, $(nproc) CPUs; synchronous_commit=$(psql -X -A -t -q -d "$ADMIN_DB" -c 'SHOW synchronous_commit')"
echo
awk -v n="$N" -v l="$s_load" -v J="$s_jobs" -v jobs="$JOBS" -v s="$s_care" -v p="$s_psql" -v c="$s_copy" -v b="$BATCH" 'BEGIN {
	printf "%-44s %9s %13s %9s %13s %12s\n", "route", "seconds", "callbacks/s", "x floor", "x idenfy-load", "psql speedup"
	printf "%-44s %9.2f %13.0f %9.2f %13.2f %12.2f\n", "1. idenfy-load (pipeline, batch " b ")", l, n / l, l / c, 1, p / l
	printf "%-44s %9.2f %13.0f %9.2f %13.2f %12.2f\n", "2. idenfy-load --jobs " jobs " (batch " b ")", J, n / J, J / c, J / l, p / J
	if (s > 0)
		printf "%-44s %9.2f %13.0f %9.2f %13.2f %12.2f\n", "3. idenfy-load --savepoints (batch " b ")", s, n / s, s / c, s / l, p / s
	printf "%-44s %9.2f %13.0f %9.2f %13.2f %12.2f\n", "4. psql, one statement per callback", p, n / p, p / c, p / l, 1
	printf "%-44s %9.2f %13.0f %9.2f %13.2f %12.2f\n", "5. \\copy raw jsonb (floor)", c, n / c, 1, c / l, p / c
}'
echo
echo "idenfy-load: exit $rc_load; peak RSS $rss_load kB; summary $(cat "$TMP/load.json")"
echo "idenfy-load --jobs $JOBS: exit $rc_jobs; peak RSS $rss_jobs kB; summary $(cat "$TMP/jobs.json")"
if [ "$SAVEPOINTS" != 0 ]; then
	echo "idenfy-load --savepoints: exit $rc_care; peak RSS $rss_care kB; summary $(cat "$TMP/care.json")"
fi
echo "rows: idenfy-load $rows_load; --jobs $JOBS $rows_jobs;${rows_care:+ --savepoints $rows_care;} psql $psql_rows ($psql_errors errors); \\copy $copy_rows rows"
for tag in load jobs care; do
	if [ -s "$TMP/$tag.err" ]; then
		case $tag in
			load) echo "idenfy-load stderr (first lines):" ;;
			jobs) echo "idenfy-load --jobs $JOBS stderr (first lines):" ;;
			care) echo "idenfy-load --savepoints stderr (first lines):" ;;
		esac
		head -5 "$TMP/$tag.err"
	fi
done
