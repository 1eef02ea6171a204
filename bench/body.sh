#!/usr/bin/env bash
# bench/body.sh: what reading the raw body costs (idenfy_ingest_body) next to
# PostgreSQL's jsonb input (idenfy_ingest($1::jsonb)), same callbacks, same run.
#
#   bash bench/body.sh [N=20000] [ROUNDS=3]     # as root, from the project folder
#
# N generated callbacks (test/gen) are kept as text and as bytea.  Each round
# ingests all of them into an empty state once per route, the routes
# alternating: (a) idenfy_ingest(text::jsonb) parses with jsonb_in in the
# cast, (b) idenfy_ingest_body(bytea) runs body.c's checks and its JSON
# grammar pass, then jsonb_in.  One statement per route, so the times are
# server CPU per callback plus one commit; the ratio b/a is the figure.
set -euo pipefail
N=${1:-20000}
ROUNDS=${2:-3}
export IDENFY_RUN_NAME=${IDENFY_RUN_NAME:-.run-bench} IDENFY_TEST_PORT=${IDENFY_TEST_PORT:-54339}
source "$(dirname "${BASH_SOURCE[0]}")/../test/env.sh"
setup_all
q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
db=bench_body
q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
q -d $db -c "CREATE EXTENSION idenfy"
q -d $db -f "$ROOT/test/gen/gen.sql" >/dev/null
q -d $db -c "CREATE TABLE src AS SELECT g.seq, g.payload::text AS body_text, convert_to(g.payload::text, 'UTF8') AS body,
               g.event_type FROM idenfy_test.gen_callbacks($N, 7) g ORDER BY g.seq"
bytes=$(q -d $db -c "SELECT round(avg(octet_length(body))) FROM src")
run() {
	# run ROUTE: ms for one statement ingesting every callback into an empty state
	q -d $db -c "TRUNCATE idenfy.verification, idenfy.document, idenfy.face_link, idenfy.document_expiration, idenfy.callback, idenfy.quarantine, idenfy.erasure" >/dev/null
	q -d $db -c "CHECKPOINT" >/dev/null
	local sql
	case $1 in
	a) sql="SELECT count(*) FROM src, idenfy_ingest(src.body_text::jsonb, src.event_type) r" ;;
	b) sql="SELECT count(*) FROM src, idenfy_ingest_body(src.body, src.event_type) r" ;;
	esac
	q -d $db -c "\\timing on" -c "$sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
}
say "$N callbacks of $bytes bytes on average, $ROUNDS rounds"
printf '| round | idenfy_ingest(text::jsonb) µs/callback | idenfy_ingest_body(bytea) µs/callback | ratio |\n|---|---|---|---|\n'
for r in $(seq 1 "$ROUNDS"); do
	ta=$(run a)
	tb=$(run b)
	awk -v r="$r" -v a="$ta" -v b="$tb" -v n="$N" 'BEGIN { printf "| %d | %.1f | %.1f | %.3f |\n", r, a * 1000 / n, b * 1000 / n, b / a }'
done
q -d postgres -c "DROP DATABASE $db"
