#!/usr/bin/env bash
# test/load/run.sh: tests of idenfy-load, the bulk loader (src/load).
#
#   PGHOST=... PGPORT=... PGDATABASE=... IDENFY_LOAD=src/load/idenfy-load bash test/load/run.sh
#
# Runs as a user that may create databases (the test runner uses postgres).
# Recreates the database idenfy_load_test with the idenfy extension, builds
# its inputs in a mktemp -d folder from the callbacks in test/load/fixtures,
# and prints one TAP line per case ("ok N - ..." / "not ok N - ..."), the
# plan last.  Exits non-zero when a case failed.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FIX="$HERE/fixtures"
LOAD=${IDENFY_LOAD:-$HERE/../../src/load/idenfy-load}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

n=0
failed=0

# check DESCRIPTION COMMAND...: one TAP line for the exit status of COMMAND
check() {
	local desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=$((failed + 1))
		# the loader's last output, as TAP comments
		for f in "$TMP/out" "$TMP/err"; do
			[ -s "$f" ] && sed -e 's/^/# /' "$f" | head -20
		done
	fi
	return 0
}

# run ARGS...: the loader, stdout in $TMP/out, stderr in $TMP/err, status in $rc
run() {
	rc=0
	"$LOAD" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
}

sql() {
	psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"
}

rows() {
	sql "SELECT (SELECT count(*) FROM idenfy.callback) || ' ' || (SELECT count(*) FROM idenfy.verification)"
}

# jsql EXPR: EXPR evaluated with :'js' set to the loader's stdout
jsql() {
	printf '%s\n' "SELECT $1;" | psql -X -A -t -q -v js="$(cat "$TMP/out")" 2>/dev/null
}

# j PATH: a member of the --json summary in $TMP/out, e.g. j '{outcomes,created}'
j() {
	jsql "(:'js'::jsonb) #>> '$1'"
}

# fixture FILE SCANREF: a fixture callback under another scanRef, pretty-printed
fixture() {
	sed -e "s/\"scanRef\": \"[^\"]*\"/\"scanRef\": \"$2\"/" "$FIX/$1"
}

# line FILE SCANREF: the same on one line
line() {
	fixture "$1" "$2" | tr -d '\n'
	echo
}

reset_db() {
	sql "DROP EXTENSION IF EXISTS idenfy CASCADE" 2>/dev/null
	sql "CREATE EXTENSION idenfy"
}

if [ ! -x "$LOAD" ]; then
	echo "not ok 1 - idenfy-load is built ($LOAD not found; make -C src/load)"
	echo "1..1"
	exit 1
fi

ADMIN_DB=${PGDATABASE:-postgres}
psql -X -q -d "$ADMIN_DB" -c "SET client_min_messages = warning" \
	-c "DROP DATABASE IF EXISTS idenfy_load_test" -c "CREATE DATABASE idenfy_load_test" ||
	{ echo "not ok 1 - create database idenfy_load_test"; echo "1..1"; exit 1; }
export PGDATABASE=idenfy_load_test
unset PGOPTIONS
reset_db

# --- input forms -----------------------------------------------------------

cp "$FIX/approved-final.json" "$TMP/single.json"
run --quiet --json "$TMP/single.json"
check "single pretty-printed callback: exit 0, created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 1 -a "$(rows)" = "1 1"

{
	line approved-final.json nd-1
	line denied-final.json nd-2
	line suspected-nonfinal.json nd-3
} >"$TMP/three.ndjson"
run -q --json "$TMP/three.ndjson"
check "NDJSON: 3 records created" \
	test "$rc" = 0 -a "$(j '{records}')" = 3 -a "$(j '{outcomes,created}')" = 3 -a "$(rows)" = "4 4"

{
	echo '['
	fixture approved-final.json arr-1
	echo ','
	fixture denied-final.json arr-2
	echo ','
	fixture suspected-nonfinal.json arr-3
	echo ']'
} >"$TMP/array.json"
run -q --json "$TMP/array.json"
check "JSON array, pretty-printed: 3 records created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 3 -a "$(rows)" = "7 7"

{
	printf '[%s,%s]\n' "$(line approved-final.json carr-1)" "$(line denied-final.json carr-2)"
} >"$TMP/compact-array.json"
run -q --json "$TMP/compact-array.json"
check "JSON array on one line: 2 records created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 2 -a "$(rows)" = "9 9"

{
	printf '{"event_type": "IDENTIFICATION_AUTO_FINISHED", "payload": %s}\n' "$(line suspected-nonfinal.json wrap-1)"
	printf '{"eventType": "IDENTIFICATION_MANUAL_FINISHED", "body": %s}\n' "$(line approved-final.json wrap-2)"
	printf '{"payload": %s}\n' "$(line denied-final.json wrap-3)"
} >"$TMP/wrapped.ndjson"
run -q --json --event-type IDENTIFICATION_EXPIRED "$TMP/wrapped.ndjson"
check "wrapper objects: 3 records created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 3 -a "$(rows)" = "12 12"
check "wrapper event types stored; --event-type for the wrapper without one" \
	test "$(sql "SELECT string_agg(scan_ref || '=' || coalesce(event_type_raw, '-'), ' ' ORDER BY scan_ref)
	             FROM idenfy.callback WHERE scan_ref LIKE 'wrap-%'")" = \
	"wrap-1=IDENTIFICATION_AUTO_FINISHED wrap-2=IDENTIFICATION_MANUAL_FINISHED wrap-3=IDENTIFICATION_EXPIRED"

line approved-final.json ev-1 >"$TMP/ev.ndjson"
run -q --json -e IDENTIFICATION_AUTO_FINISHED "$TMP/ev.ndjson"
check "--event-type applies to plain records" \
	test "$rc" = 0 -a "$(sql "SELECT event_type_raw FROM idenfy.callback WHERE scan_ref = 'ev-1'")" = IDENTIFICATION_AUTO_FINISHED

# --- standard input --------------------------------------------------------

line approved-final.json stdin-1 >"$TMP/stdin.ndjson"
line denied-final.json stdin-2 >>"$TMP/stdin.ndjson"
rc=0
cat "$TMP/stdin.ndjson" | "$LOAD" -q --json >"$TMP/out" 2>"$TMP/err" || rc=$?
check "standard input (pipe, no argument): 2 records created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 2 -a "$(rows)" = "15 15"

fixture suspected-nonfinal.json stdin-3 >"$TMP/stdin.json"
rc=0
"$LOAD" -q --json - <"$TMP/stdin.json" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "standard input (\"-\"), a pretty-printed callback" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 1 -a "$(rows)" = "16 16"

# --- broken records --------------------------------------------------------

{
	line approved-final.json bad-1             # line 1
	line denied-final.json bad-2               # line 2
	echo '{"scanRef": "bad-x", oops}'          # line 3: syntax error at column 25
	echo '{"scanRef": "bad-y", "final": true,' # line 4: truncated
	line suspected-nonfinal.json bad-5         # line 5
	echo '[1]'                                 # line 6: an array of a number
	echo '"just a string"'                     # line 7: not an object
	line approved-final.json bad-8             # line 8
} >"$TMP/broken.ndjson"
run -q --json "$TMP/broken.ndjson"
check "NDJSON with broken records: exit 1, 4 parse errors, 4 loaded" \
	test "$rc" = 1 -a "$(j '{parse_errors}')" = 4 -a "$(j '{loaded}')" = 4 -a "$(rows)" = "20 20"
check "NDJSON with broken records: the good ones are in the tables" \
	test "$(sql "SELECT string_agg(scan_ref, ' ' ORDER BY scan_ref) FROM idenfy.verification WHERE scan_ref LIKE 'bad-%'")" = \
	"bad-1 bad-2 bad-5 bad-8"
check "NDJSON with broken records: exact positions on stderr" \
	grep -q "broken.ndjson:3:22: invalid JSON" "$TMP/err"
check "NDJSON with broken records: truncated line 4 reported, line 5 still loaded" \
	grep -q "broken.ndjson:5:1: invalid JSON: .*(in the record starting at line 4)" "$TMP/err"
check "NDJSON with broken records: non-objects reported with element or line" \
	grep -q "broken.ndjson:6:2: array element 1: record is not a JSON object" "$TMP/err"
check "NDJSON with broken records: a string record reported at line 7" \
	grep -q "broken.ndjson:7:1: record is not a JSON object (found string)" "$TMP/err"

# three pretty-printed callbacks one after the other (as jq prints them),
# the second one broken ("tru")
fixture_lines=$(wc -l <"$FIX/approved-final.json")
{
	fixture approved-final.json pretty-1
	fixture denied-final.json pretty-2 | sed -e 's/"final": true,/"final": tru,/'
	fixture suspected-nonfinal.json pretty-3
} >"$TMP/pretty.json"
bad_line=$(grep -n '"final": tru,' "$TMP/pretty.json" | cut -d: -f1)
# the error shows at the ',' after "tru": its column is the length of what precedes, plus 1
bad_col=$(grep '"final": tru,' "$TMP/pretty.json" | cut -d, -f1 | wc -c)
run -q --json "$TMP/pretty.json"
check "concatenated pretty-printed callbacks, one broken: exit 1, the other two loaded" \
	test "$rc" = 1 -a "$(j '{parse_errors}')" = 1 -a "$(j '{loaded}')" = 2 -a "$(rows)" = "22 22"
check "concatenated pretty-printed callbacks: error at line $bad_line, column $bad_col" \
	grep -q "pretty.json:$bad_line:$bad_col: invalid JSON: .*(in the record starting at line $((fixture_lines + 1)))" "$TMP/err"

{
	echo '['
	fixture approved-final.json barr-1
	echo ','
	echo '{"scanRef": "barr-2",}'
	echo ']'
} >"$TMP/broken-array.json"
line denied-final.json after-array >"$TMP/after-array.ndjson"
run -q --json "$TMP/broken-array.json" "$TMP/after-array.ndjson"
check "broken array: element 1 loaded, error reported, next file still loaded" \
	test "$rc" = 1 -a "$(j '{parse_errors}')" = 1 -a "$(j '{loaded}')" = 2 -a "$(rows)" = "24 24"
check "broken array: error names the line and element" \
	grep -q "broken-array.json:$((fixture_lines + 3)):22: array element 2: invalid JSON" "$TMP/err"

# --- server-side rejections --------------------------------------------------

long=$(printf 'L%.0s' $(seq 60))
{
	line approved-final.json rej-1
	line denied-final.json "$long"
	line suspected-nonfinal.json rej-3
} >"$TMP/rejected.ndjson"
run -q --json "$TMP/rejected.ndjson"
check "server rejects a 60-character scanRef: exit 1, the rest of the batch loaded" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 1 -a "$(j '{loaded}')" = 2 -a "$(rows)" = "26 26"
check "server rejection counted by SQLSTATE" \
	test "$(j '{errors,0,sqlstate}')" = 22001 -a "$(j '{errors,0,count}')" = 1
check "server rejection reported with its line" \
	grep -q "rejected.ndjson:2:1: ERROR 22001: " "$TMP/err"

# many errors across several batches: every 10th record is rejected
for i in $(seq 1 300); do
	if [ $((i % 10)) = 0 ]; then
		line approved-final.json "many-$i-$long"
	else
		line approved-final.json "many-$i"
	fi
done >"$TMP/many.ndjson"
run -q --json --batch 40 "$TMP/many.ndjson"
check "300 records, 30 rejected, --batch 40: 270 loaded, in the tables" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 30 -a "$(j '{outcomes,created}')" = 270 -a "$(rows)" = "296 296"
cp "$TMP/err" "$TMP/many.err"
reset_db
run -q --json --single "$TMP/many.ndjson"
check "the same with --single" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 30 -a "$(j '{outcomes,created}')" = 270 -a "$(rows)" = "270 270"

# --- optimistic batches and their careful re-run ----------------------------------
#
# A batch goes without savepoints; when one of its records fails, the whole
# batch is run again with a savepoint per record.  The rows a transaction
# inserts carry its xid (xmin), and those of a savepoint its subtransaction's
# own: the number of distinct xmin of the callbacks tells how they were run.

# xacts PATTERN: distinct xmin of the callbacks whose scan_ref is LIKE PATTERN
xacts() {
	sql "SELECT count(DISTINCT xmin::text) FROM idenfy.callback WHERE scan_ref LIKE '$1'"
}

# errlines: the input lines of the ERROR reports on stderr, in their order
errlines() {
	sed -n -e 's/^[^:]*:\([0-9]*\):[0-9]*: ERROR .*/\1/p' "$TMP/err" | tr '\n' ' ' | sed -e 's/ $//'
}

# distinct PATTERN: "callbacks distinct-scan_refs verifications" for PATTERN
distinct() {
	sql "SELECT (SELECT count(*) FROM idenfy.callback WHERE scan_ref LIKE '$1') || ' ' ||
	            (SELECT count(DISTINCT scan_ref) FROM idenfy.callback WHERE scan_ref LIKE '$1') || ' ' ||
	            (SELECT count(*) FROM idenfy.verification WHERE scan_ref LIKE '$1')"
}

reset_db
run -q --json --savepoints --batch 40 "$TMP/many.ndjson"
check "--savepoints: the same 300 records, 30 rejected: 270 loaded, same reports" \
	eval 'test "$rc" = 1 -a "$(j "{server_errors}")" = 30 -a "$(j "{outcomes,created}")" = 270 \
		-a "$(rows)" = "270 270" -a "$(xacts "many-%")" = 270 && cmp -s "$TMP/err" "$TMP/many.err"'

reset_db
for i in $(seq 1 300); do
	line approved-final.json "opt-$i"
done >"$TMP/good.ndjson"
run -q --json --batch 100 "$TMP/good.ndjson"
check "300 good records, --batch 100: created in 3 transactions, no savepoints" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 300 -a "$(rows)" = "300 300" -a "$(xacts 'opt-%')" = 3

# a large batch, its record 500 rejected, record 700 a copy of record 100
for i in $(seq 1 1000); do
	if [ "$i" = 500 ]; then
		line denied-final.json "mid-$i-$long"
	elif [ "$i" = 700 ]; then
		line approved-final.json mid-100
	else
		line approved-final.json "mid-$i"
	fi
done >"$TMP/mid.ndjson"
run -q --json --batch 1000 "$TMP/mid.ndjson"
check "bad record 500 of a 1000-record batch: exit 1, 998 created, 1 duplicate, 1 rejected" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 1 -a "$(j '{loaded}')" = 999 \
	-a "$(j '{outcomes,created}')" = 998 -a "$(j '{outcomes,duplicate}')" = 1 -a "$(j '{outcomes,updated}')" = 0
check "bad record in a large batch: every good record committed once (callbacks = distinct = verifications)" \
	test "$(distinct 'mid-%')" = "998 998 998" -a "$(rows)" = "1298 1298"
check "bad record in a large batch: reported once, at its line" \
	test "$(errlines)" = 500 -a "$(grep -c ERROR "$TMP/err")" = 1
check "bad record in a large batch: the batch was re-run with a savepoint per record" \
	test "$(xacts 'mid-%')" = 998

# several bad records in one batch, of two kinds, the first and last among them
for i in $(seq 1 200); do
	case $i in
		1 | 51) fixture approved-final.json "sev-$i" | sed -e 's/"clientIp": "[^"]*"/"clientIp": "not-an-ip"/' | tr -d '\n'; echo ;;
		50 | 120 | 200) line denied-final.json "sev-$i-$long" ;;
		*) line approved-final.json "sev-$i" ;;
	esac
done >"$TMP/several.ndjson"
run -q --json --batch 200 "$TMP/several.ndjson"
check "5 bad records in one 200-record batch: exit 1, 195 created, 5 rejected, 2 kinds" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 5 -a "$(j '{outcomes,created}')" = 195 \
	-a "$(jsql "jsonb_array_length((:'js'::jsonb) -> 'errors')")" = 2 -a "$(distinct 'sev-%')" = "195 195 195"
check "5 bad records in one batch: each reported once, in input order" \
	test "$(errlines)" = "1 50 51 120 200"

# the last record of the input is bad, in a partial batch
for i in $(seq 1 250); do
	if [ "$i" = 250 ]; then
		line approved-final.json "last-$i-$long"
	else
		line approved-final.json "last-$i"
	fi
done >"$TMP/last.ndjson"
run -q --json --batch 100 "$TMP/last.ndjson"
check "bad last record of the input: exit 1, 249 created, reported at line 250" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 1 -a "$(j '{outcomes,created}')" = 249 \
	-a "$(distinct 'last-%')" = "249 249 249" -a "$(errlines)" = 250
check "bad last record: 2 batches without savepoints, the last one re-run with them" \
	test "$(xacts 'last-%')" = 51

run --savepoints --single "$TMP/single.json"
check "--savepoints with --single: usage error, exit 2" test "$rc" = 2

# --- replay, summaries ---------------------------------------------------------

reset_db
run -q "$TMP/single.json" "$TMP/three.ndjson" "$TMP/array.json" "$TMP/wrapped.ndjson"
first_rows=$(rows)
run -q --json "$TMP/single.json" "$TMP/three.ndjson" "$TMP/array.json" "$TMP/wrapped.ndjson"
check "replay of the same files: exit 0, all 10 duplicate, no new rows" \
	test "$rc" = 0 -a "$(j '{outcomes,duplicate}')" = 10 -a "$(j '{outcomes,created}')" = 0 \
	-a "$(rows)" = "$first_rows" -a "$first_rows" = "10 10"

check "--json summary is one valid JSON object (python3 json.load)" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if isinstance(d, dict) and d["records"] == 10 else 1)' "$TMP/out" 2>/dev/null
check "--json summary casts to jsonb, one object" \
	test "$(jsql "jsonb_typeof(:'js'::jsonb)" 2>&1)" = object

run -q "$TMP/single.json" "$TMP/three.ndjson"
check "text summary: 'duplicate 4' on stdout, exit 0" \
	eval 'test "$rc" = 0 && grep -Eq "^ *duplicate +4$" "$TMP/out"'

fixture approved-final.json quar-1 | sed -e 's/"clientIp": "[^"]*"/"clientIp": "not-an-ip"/' >"$TMP/quarantine.json"
rc=0
PGOPTIONS="-c idenfy.on_invalid=quarantine" "$LOAD" -q --json "$TMP/quarantine.json" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "quarantined outcome (idenfy.on_invalid = quarantine) counts as ingested: exit 0" \
	test "$rc" = 0 -a "$(j '{outcomes,quarantined}')" = 1

# --- parallel connections (--jobs) ----------------------------------------------
#
# --jobs N routes each record by a hash of its scanRef to one of N
# connections: the callbacks of one scanRef keep their input order, so the
# stored state must be the one a single connection gives.

# state PATTERN: a digest of what is stored for the scanRefs LIKE PATTERN:
# the verifications' state and decision, and the history of each scanRef
# in arrival order (callback ids grow in commit order) with the outcomes
state() {
	sql "SELECT md5(coalesce((SELECT string_agg(concat_ws('|', scan_ref, final, has_manual, overall,
	                   manual_face, manual_document, client_location, event_type, decision,
	                   decision_reasons::text), ';' ORDER BY scan_ref)
	              FROM idenfy.verification WHERE scan_ref LIKE '$1'), '-') || '#' ||
	        coalesce((SELECT string_agg(concat_ws('|', scan_ref, encode(payload_sha256, 'hex'), outcome,
	                   event_type_raw, final, has_manual), ';' ORDER BY scan_ref, id)
	              FROM idenfy.callback WHERE scan_ref LIKE '$1'), '-'))"
}

# track_backends: record which backend inserts each callback (a trigger of
# the test's own, dropped with the extension by reset_db)
track_backends() {
	sql "CREATE TABLE IF NOT EXISTS public.load_backend (scan_ref text, pid int);
	     TRUNCATE public.load_backend;
	     CREATE OR REPLACE FUNCTION public.load_backend_track() RETURNS trigger
	     LANGUAGE plpgsql AS \$\$ BEGIN
	         INSERT INTO public.load_backend VALUES (NEW.scan_ref, pg_catalog.pg_backend_pid());
	         RETURN NULL; END \$\$;
	     CREATE TRIGGER load_backend AFTER INSERT ON idenfy.callback
	         FOR EACH ROW EXECUTE FUNCTION public.load_backend_track()"
}

# sorted_errlines: the lines of the ERROR reports, in line order (with
# several connections they come in the order the servers answer)
sorted_errlines() {
	errlines | tr ' ' '\n' | sort -n | tr '\n' ' ' | sed -e 's/ $//'
}

# no_manual FILE SCANREF: a final callback without manual results
no_manual() {
	fixture "$1" "$2" | sed -e 's/"manual\(Document\|Face\)": "[^"]*"/"manual\1": null/' | tr -d '\n'
	echo
}

# 24 scanRefs, five callbacks each, the rounds interleaved so that the
# callbacks of one scanRef lie far apart (in different batches): a non-final
# automatic result (created), a final manual review (updated), a late copy of
# the non-final one with another location (stale: stored is final), a final
# callback without manual results (stale: stored has manual), the first one
# again (duplicate).  Wrappers name their event type; routing takes the
# scanRef inside.  ord-bad.ndjson adds two records the server rejects.
ORD=24
for round in 1 2 3 4 5; do
	for k in $(seq 1 $ORD); do
		case $round in
			1 | 5) printf '{"event_type": "IDENTIFICATION_AUTO_FINISHED", "payload": %s}\n' \
				"$(line suspected-nonfinal.json "ord-$k")" ;;
			2) printf '{"eventType": "IDENTIFICATION_MANUAL_FINISHED", "body": %s}\n' \
				"$(line approved-final.json "ord-$k")" ;;
			3) line suspected-nonfinal.json "ord-$k" | sed -e 's/"clientLocation": "[^"]*"/"clientLocation": "Kaunas, Lithuania"/' ;;
			4) no_manual denied-final.json "ord-$k" ;;
		esac
	done
done >"$TMP/ord.ndjson"
ord_records=$((ORD * 5))
{
	sed -n -e '1,30p' "$TMP/ord.ndjson"
	line denied-final.json "ord-bad-1-$long"
	sed -n -e '31,90p' "$TMP/ord.ndjson"
	line approved-final.json "ord-bad-2-$long"
	sed -n -e '91,$p' "$TMP/ord.ndjson"
} >"$TMP/ord-bad.ndjson"

reset_db
run -q --json --batch 10 "$TMP/ord-bad.ndjson"
ord_rc=$rc
ord_state=$(state 'ord-%')
ord_outcomes=$(j '{outcomes}')
check "ordering input, --jobs 1: $ORD created, $ORD updated, $((2 * ORD)) stale, $ORD duplicate, 2 rejected" \
	test "$rc" = 1 -a "$(j '{outcomes,created}')" = $ORD -a "$(j '{outcomes,updated}')" = $ORD \
	-a "$(j '{outcomes,stale}')" = $((2 * ORD)) -a "$(j '{outcomes,duplicate}')" = $ORD -a "$(j '{server_errors}')" = 2

reset_db
track_backends
run -q --json --batch 10 --jobs 4 "$TMP/ord-bad.ndjson"
check "--jobs 4: the same outcomes and exit status as --jobs 1" \
	test "$rc" = "$ord_rc" -a "$(j '{outcomes}')" = "$ord_outcomes" -a "$(j '{server_errors}')" = 2
check "--jobs 4: the same stored state and history as --jobs 1 (digest)" \
	test "$(state 'ord-%')" = "$ord_state"
check "--jobs 4: 4 connections used, each scanRef through one of them" \
	test "$(sql "SELECT (SELECT count(DISTINCT pid) FROM public.load_backend) || ' ' ||
	              (SELECT max(n) FROM (SELECT count(DISTINCT pid) AS n FROM public.load_backend
	                                    GROUP BY scan_ref) s)")" = "4 1"
check "--jobs 4: --json summary sums match the rows (records, loaded, outcomes, callbacks, verifications)" \
	test "$(j '{records}')" = $((ord_records + 2)) \
	-a "$(j '{records}')" = $(($(j '{loaded}') + $(j '{server_errors}'))) \
	-a "$(jsql "(SELECT sum(value::bigint) FROM jsonb_each_text((:'js'::jsonb) -> 'outcomes'))")" = "$(j '{loaded}')" \
	-a "$(($(j '{outcomes,created}') + $(j '{outcomes,updated}') + $(j '{outcomes,stale}')))" = \
	"$(sql "SELECT count(*) FROM idenfy.callback")" \
	-a "$(j '{outcomes,created}')" = "$(sql "SELECT count(*) FROM idenfy.verification")"
check "--jobs 4: the rejected records reported at their lines" \
	test "$(sorted_errlines)" = "31 92" -a "$(grep -c ERROR "$TMP/err")" = 2

run -q --json -j 2 "$TMP/ord-bad.ndjson"
check "replay under --jobs 2: every loaded record duplicate, no new rows" \
	test "$rc" = 1 -a "$(j '{outcomes,duplicate}')" = $ord_records -a "$(j '{loaded}')" = $ord_records \
	-a "$(j '{server_errors}')" = 2 -a "$(state 'ord-%')" = "$ord_state"

reset_db
run -q --json --single --jobs 3 "$TMP/ord-bad.ndjson"
check "--single --jobs 3: the same outcomes and stored state as --jobs 1" \
	test "$rc" = "$ord_rc" -a "$(j '{outcomes}')" = "$ord_outcomes" -a "$(state 'ord-%')" = "$ord_state"

reset_db
run -q --json --savepoints --batch 7 --jobs 3 "$TMP/ord-bad.ndjson"
check "--savepoints --jobs 3: the same outcomes and stored state as --jobs 1" \
	test "$rc" = "$ord_rc" -a "$(j '{outcomes}')" = "$ord_outcomes" -a "$(state 'ord-%')" = "$ord_state"

# broken records in the middle, of every kind, under --jobs 3
for i in $(seq 1 40); do
	case $i in
		7) echo '{"scanRef": "bj-x", oops}' ;;
		13) echo '{"scanRef": "bj-y", "final": true,' ;;
		17) echo '"just a string"' ;;
		20 | 31) line denied-final.json "bj-$i-$long" ;;
		25) fixture approved-final.json "bj-$i" | sed -e 's/"clientIp": "[^"]*"/"clientIp": "not-an-ip"/' | tr -d '\n'; echo ;;
		*) line approved-final.json "bj-$i" ;;
	esac
done >"$TMP/bj.ndjson"
reset_db
run -q --json --batch 5 -j 3 "$TMP/bj.ndjson"
check "--jobs 3, broken records in the middle: exit 1, 3 parse errors, 3 rejected, 34 loaded" \
	test "$rc" = 1 -a "$(j '{parse_errors}')" = 3 -a "$(j '{server_errors}')" = 3 -a "$(j '{loaded}')" = 34 \
	-a "$(distinct 'bj-%')" = "34 34 34"
check "--jobs 3, broken records: parse errors at their exact positions" \
	eval 'grep -q "bj.ndjson:7:21: invalid JSON" "$TMP/err" &&
		grep -q "bj.ndjson:14:1: invalid JSON: .*(in the record starting at line 13)" "$TMP/err" &&
		grep -q "bj.ndjson:17:1: record is not a JSON object (found string)" "$TMP/err"'
check "--jobs 3, broken records: server rejections at their lines, each once" \
	test "$(sorted_errlines)" = "20 25 31" -a "$(grep -c ERROR "$TMP/err")" = 3

# a connection that dies in the middle of a run (its backend terminates
# itself on one callback): the whole run stops with exit status 2
reset_db
sql "CREATE OR REPLACE FUNCTION public.load_kill() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN IF NEW.scan_ref = 'kill-me' THEN PERFORM pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid()); END IF;
     RETURN NULL; END \$\$;
     CREATE TRIGGER load_kill AFTER INSERT ON idenfy.callback FOR EACH ROW EXECUTE FUNCTION public.load_kill()"
{
	sed -n -e '1,40p' "$TMP/ord.ndjson"
	line approved-final.json kill-me
	sed -n -e '41,$p' "$TMP/ord.ndjson"
} >"$TMP/kill.ndjson"
run -q --json -j 3 "$TMP/kill.ndjson"
check "--jobs 3, one connection lost mid-run: exit 2, which connection is named" \
	eval 'test "$rc" = 2 && grep -q "lost the connection to the server (connection [1-3] of 3)" "$TMP/err"'

run --jobs 0 "$TMP/single.json"
check "--jobs 0: usage error, exit 2, clear message" \
	eval 'test "$rc" = 2 && grep -q "invalid value \"0\" for --jobs: must be an integer between 1 and 64" "$TMP/err"'
run -j abc "$TMP/single.json"
check "-j abc: usage error, exit 2, clear message" \
	eval 'test "$rc" = 2 && grep -q "invalid value \"abc\" for --jobs: must be an integer between 1 and 64" "$TMP/err"'
run --jobs 65 "$TMP/single.json"
check "--jobs 65: usage error, exit 2" \
	eval 'test "$rc" = 2 && grep -q "invalid value \"65\" for --jobs" "$TMP/err"'

# --- an older extension -----------------------------------------------------------

# before 1.5.0 there is no idenfy_ingest_many: a group calls idenfy_ingest once per record
sql "DROP EXTENSION IF EXISTS idenfy CASCADE" 2>/dev/null
sql "CREATE EXTENSION idenfy VERSION '1.4.0'"
{
	line approved-final.json old-1
	line denied-final.json old-2
	echo "{\"event_type\": \"IDENTIFICATION_AUTO_FINISHED\", \"payload\": $(line suspected-nonfinal.json old-3)}"
} >"$TMP/old.ndjson"
run -q --json "$TMP/old.ndjson"
check "extension 1.4.0 (no idenfy_ingest_many): 3 records created, plain and wrapped" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 3 -a "$(rows)" = "3 3"
check "extension 1.4.0: the wrapper's event type stored" \
	test "$(sql "SELECT event_type FROM idenfy.callback WHERE scan_ref = 'old-3'")" = IDENTIFICATION_AUTO_FINISHED
reset_db

# --- connection and usage errors -----------------------------------------------

# one statement for several records (a group): each keeps its own event type, none where it has none
{
	printf '{"event_type": "IDENTIFICATION_AUTO_FINISHED", "payload": %s}\n' "$(line suspected-nonfinal.json grp-1)"
	printf '{"payload": %s}\n' "$(line approved-final.json grp-2)"
	printf '{"event_type": "IDENTIFICATION_MANUAL_FINISHED", "payload": %s}\n' "$(line denied-final.json grp-3)"
} >"$TMP/group.ndjson"
run -q --json "$TMP/group.ndjson"
check "records sharing a statement: each with its own event type, or none" \
	test "$rc" = 0 -a "$(sql "SELECT string_agg(scan_ref || '=' || coalesce(event_type_raw, '-') || '=' || outcome, ' ' ORDER BY scan_ref)
	             FROM idenfy.callback WHERE scan_ref LIKE 'grp-%'")" = \
	"grp-1=IDENTIFICATION_AUTO_FINISHED=created grp-2=-=created grp-3=IDENTIFICATION_MANUAL_FINISHED=created"

run -q -d "host=$TMP/nowhere port=1" "$TMP/single.json"
check "wrong connection string: exit 2, clear message" \
	eval 'test "$rc" = 2 && grep -q "could not connect to the database: .*nowhere" "$TMP/err"'

run -q -d "postgresql://someone:s3cretpw@/idenfy_load_test?host=$TMP/nowhere" "$TMP/single.json"
check "connection URI with a password: exit 2, password not echoed" \
	eval 'test "$rc" = 2 && grep -q "could not connect" "$TMP/err" && ! grep -q s3cretpw "$TMP/err"'

run -q -d "postgresql://someone:s3cretpw@[::1/idenfy_load_test" "$TMP/single.json"
check "malformed connection URI: exit 2, password not echoed" \
	eval 'test "$rc" = 2 && grep -q "invalid connection string" "$TMP/err" && ! grep -q s3cretpw "$TMP/err"'

run -q "$TMP/no-such-file.json"
check "unreadable input file: exit 2" \
	eval 'test "$rc" = 2 && grep -q "no-such-file.json" "$TMP/err"'

run --batch 0 "$TMP/single.json"
check "usage error: exit 2" test "$rc" = 2

run --help
check "--help: exit 0, usage on stdout, --jobs documented" eval 'test "$rc" = 0 && grep -q "idenfy-load \[OPTION\]" "$TMP/out" && grep -q -- "-j, --jobs=N" "$TMP/out"'
check "--help: the connection options, -1, --transaction-per-record and --single as deprecated" \
	eval '(for o in "-h, --host=" "-p, --port=" "-U, --username=" "-w, --no-password" "-W, --password" \
		"-1, --single-transaction" "--transaction-per-record" "--single             deprecated"; do
		grep -q -- "$o" "$TMP/out" || exit 1; done)'
check "man page src/load/idenfy-load.1: renders without a warning (groff -man -ww)" \
	eval 'test -f "$HERE/../../src/load/idenfy-load.1" && { ! command -v groff >/dev/null ||
		{ groff -man -Tutf8 -ww -z "$HERE/../../src/load/idenfy-load.1" 2>"$TMP/err" && test ! -s "$TMP/err"; }; }'

# --- connection options: -h -p -U -d, as psql ------------------------------------

reset_db
line approved-final.json conn-1 >"$TMP/conn1.ndjson"
line approved-final.json conn-2 >"$TMP/conn2.ndjson"
line approved-final.json conn-3 >"$TMP/conn3.ndjson"
line approved-final.json conn-4 >"$TMP/conn4.ndjson"
HOST=${PGHOST:-/var/run/postgresql}
PORT=${PGPORT:-5432}
USER_=${PGUSER:-$(id -un)}
# noenv COMMAND...: without the PG* connection variables
noenv() {
	env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE -u PGSERVICE "$@"
}
rc=0
noenv "$LOAD" -q --json -h "$HOST" -p "$PORT" -U "$USER_" -d idenfy_load_test "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-h -p -U -d DBNAME, no PG* variables: connected, 1 created" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 1 -a "$(sql "SELECT count(*) FROM idenfy.verification WHERE scan_ref = 'conn-1'")" = 1

rc=0
noenv "$LOAD" -q --json -h "$HOST" --port="$PORT" --username="$USER_" --dbname="dbname=idenfy_load_test application_name=conn-test" \
	"$TMP/conn2.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-d CONNINFO without host: -h, -p, -U add what it leaves out" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 1

# a conninfo's fields take precedence over -h/-p, exactly as with psql
rc=0
noenv "$LOAD" -q --json -h "$TMP/nowhere" -p 1 -d "host=$HOST port=$PORT user=$USER_ dbname=idenfy_load_test" \
	"$TMP/conn3.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
psql_rc=0
noenv psql -X -q -A -t -h "$TMP/nowhere" -p 1 -d "host=$HOST port=$PORT user=$USER_ dbname=idenfy_load_test" -c "SELECT 1" >/dev/null 2>&1 || psql_rc=$?
check "-h/-p overridden by the host and port of a -d conninfo: connected, as psql does" \
	test "$rc" = 0 -a "$psql_rc" = 0 -a "$(j '{outcomes,created}')" = 1

# -p overrides PGPORT; -U adds a user to a URI without one
rc=0
"$LOAD" -q -p 1 "$TMP/conn4.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-p overrides PGPORT: wrong port, exit 2, port 1 named" \
	eval 'test "$rc" = 2 && grep -q "could not connect to the database: .*PGSQL\.1\"" "$TMP/err"'
rc=0
noenv "$LOAD" -q -U no_such_role_idenfy -d "postgresql:///idenfy_load_test?host=$HOST&port=$PORT" "$TMP/conn4.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-U adds the user to a URI that has none: role named in the error, exit 2, nothing loaded" \
	eval 'test "$rc" = 2 && grep -q "no_such_role_idenfy" "$TMP/err" && test "$(sql "SELECT count(*) FROM idenfy.verification WHERE scan_ref = '"'conn-4'"'")" = 0'
rc=0
noenv "$LOAD" -q --json -h "$HOST" -p "$PORT" -d "postgresql://$USER_@/idenfy_load_test" "$TMP/conn4.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-d URI with a user and database, -h/-p for the socket: connected" \
	test "$rc" = 0 -a "$(j '{outcomes,created}')" = 1
run -q -U
check "-U without its argument: usage error, exit 2" \
	eval 'test "$rc" = 2 && grep -q "option \"-U\" requires an argument" "$TMP/err"'

# --- passwords: -w, -W, the prompt ---------------------------------------------
#
# The test cluster trusts every local connection, so a stand-in server
# (fakepg.py) asks for a password, notes what it gets and refuses the login.
# The prompt reads /dev/tty: ttyrun.py gives the loader a terminal of its
# own and types the answer; setsid takes the terminal away.

FAKE=$TMP/fake
mkdir -p "$FAKE"
python3 "$HERE/fakepg.py" "$FAKE" 5999 "$FAKE/log" &
fake_pid=$!
for _ in $(seq 50); do [ -S "$FAKE/.s.PGSQL.5999" ] && break; sleep 0.1; done
fake_log() { tail -n 1 "$FAKE/log" 2>/dev/null; }

rc=0
setsid -w "$LOAD" -q -w -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
check "-w, the server asks for a password: exit 2, \"no password supplied\", none sent" \
	eval 'test "$rc" = 2 && grep -q "no password supplied" "$TMP/err" && test "$(fake_log)" = "no password"'

rc=0
python3 "$HERE/ttyrun.py" "$TMP/tty" "Password" "never-typed" "$LOAD" -q -w -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-w with a terminal: no prompt, exit 2" \
	eval 'test "$rc" = 2 && ! grep -q "Password" "$TMP/tty" && test "$(fake_log)" = "no password"'

rc=0
setsid -w "$LOAD" -q -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
check "no -w, but no terminal: no prompt, no hang, exit 2" \
	eval 'test "$rc" = 2 && grep -q "no password supplied" "$TMP/err"'

rc=0
PGPASSWORD=from-env-pw setsid -w "$LOAD" -q -w -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
check "PGPASSWORD is sent (with -w), refused: exit 2, the password not in the message" \
	eval 'test "$rc" = 2 && test "$(fake_log)" = "password=from-env-pw" && grep -q "password authentication failed" "$TMP/err" && ! grep -q from-env-pw "$TMP/err"'

rc=0
python3 "$HERE/ttyrun.py" "$TMP/tty" "Password: " "typed-W-pw" "$LOAD" -q -W -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-W: prompts on the terminal before connecting, the typed password is sent, not echoed" \
	eval 'test "$rc" = 2 && test "$(fake_log)" = "password=typed-W-pw" && grep -q "^Password: " "$TMP/tty" && ! grep -q typed-W-pw "$TMP/tty"'

rc=0
python3 "$HERE/ttyrun.py" "$TMP/tty" "Password for user pwuser: " "typed-auto" "$LOAD" -q -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "no -w/-W, the server asks, a terminal: \"Password for user pwuser:\" prompt, then sent" \
	eval 'test "$rc" = 2 && test "$(tail -n 2 "$FAKE/log" | tr "\n" " ")" = "no password password=typed-auto " && ! grep -q typed-auto "$TMP/tty"'

rc=0
setsid -w "$LOAD" -q -W -h "$FAKE" -p 5999 -U pwuser "$TMP/conn1.ndjson" >"$TMP/out" 2>"$TMP/err" </dev/null || rc=$?
check "-W without a terminal: exit 2, says so" \
	eval 'test "$rc" = 2 && grep -q "no terminal to ask for the password" "$TMP/err"'
kill "$fake_pid" 2>/dev/null
wait "$fake_pid" 2>/dev/null

# --- directories, missing and unreadable inputs --------------------------------------

reset_db
mkdir -p "$TMP/dir/sub"
# one scanRef across the files: in name order created, updated, stale; in
# another order the outcomes differ
line suspected-nonfinal.json dir-1 >"$TMP/dir/a.ndjson"
fixture approved-final.json dir-1 >"$TMP/dir/b.json"
line suspected-nonfinal.json dir-1 | sed -e 's/"clientLocation": "[^"]*"/"clientLocation": "Kaunas, Lithuania"/' >"$TMP/dir/c.JSONL"
line approved-final.json dir-hidden >"$TMP/dir/.hidden.json"
line approved-final.json dir-txt >"$TMP/dir/notes.txt"
line approved-final.json dir-sub >"$TMP/dir/sub/x.json"
line approved-final.json dir-z >"$TMP/dir/z.json"
run -q --json "$TMP/dir"
check "a directory: its .json/.ndjson/.jsonl files (any case) in name order, 4 files" \
	test "$rc" = 0 -a "$(j '{files}')" = 4 -a "$(j '{records}')" = 4 \
	-a "$(sql "SELECT string_agg(outcome::text, ' ' ORDER BY id) FROM idenfy.callback WHERE scan_ref = 'dir-1'")" = "created updated stale"
check "a directory: hidden files, other names and subdirectories skipped" \
	test "$(sql "SELECT string_agg(scan_ref, ' ' ORDER BY scan_ref) FROM idenfy.verification WHERE scan_ref LIKE 'dir-%'")" = "dir-1 dir-z"
(cd "$TMP/dir" && "$LOAD" -q --json . >"$TMP/out" 2>"$TMP/err") && rc=0 || rc=$?
check "\".\" as an argument: loaded (all duplicate now), not refused" \
	test "$rc" = 0 -a "$(j '{outcomes,duplicate}')" = 4

reset_db
line approved-final.json miss-1 >"$TMP/miss1.ndjson"
line approved-final.json miss-2 >"$TMP/miss2.ndjson"
run -q --json "$TMP/miss1.ndjson" "$TMP/no-such-file.json" "$TMP/miss2.ndjson"
check "a missing file among good ones: the rest loaded, exit 1" \
	test "$rc" = 1 -a "$(j '{outcomes,created}')" = 2 -a "$(rows)" = "2 2" -a "$(j '{files}')" = 2
check "a missing file: --json summary names it (input_errors, failed_inputs)" \
	test "$(j '{input_errors}')" = 1 -a "$(j '{failed_inputs,0,file}')" = "$TMP/no-such-file.json" \
	-a "$(j '{failed_inputs,0,error}')" = "could not open: No such file or directory"
check "a missing file: reported on stderr" \
	grep -q "no-such-file.json: could not open: No such file or directory" "$TMP/err"
run -q "$TMP/miss1.ndjson" "$TMP/no-such-file.json"
check "a missing file: the text summary names it, exit 1" \
	eval 'test "$rc" = 1 && grep -Eq "^input errors +1$" "$TMP/out" && grep -q "^  $TMP/no-such-file.json: could not open: No such file or directory$" "$TMP/out"'

if [ "$(id -u)" = 0 ]; then
	n=$((n + 1)); echo "ok $n # skip unreadable files (running as root, chmod 000 does not stop reading)"
	n=$((n + 1)); echo "ok $n # skip unreadable directory entry (running as root)"
else
	reset_db
	line approved-final.json unr-1 >"$TMP/unr1.ndjson"
	line approved-final.json unr-2 >"$TMP/unr-locked.ndjson"
	chmod 000 "$TMP/unr-locked.ndjson"
	run -q --json "$TMP/unr-locked.ndjson" "$TMP/unr1.ndjson"
	check "an unreadable file (chmod 000): reported, the rest loaded, exit 1" \
		test "$rc" = 1 -a "$(j '{outcomes,created}')" = 1 -a "$(j '{failed_inputs,0,error}')" = "could not open: Permission denied" \
		-a "$(sql "SELECT string_agg(scan_ref, ' ') FROM idenfy.verification")" = unr-1
	mkdir -p "$TMP/unrdir"
	line approved-final.json unr-3 >"$TMP/unrdir/1.json"
	line approved-final.json unr-4 >"$TMP/unrdir/2.json"
	line approved-final.json unr-5 >"$TMP/unrdir/3.json"
	chmod 000 "$TMP/unrdir/2.json"
	run -q --json "$TMP/unrdir"
	check "an unreadable entry of a directory: named in the summary, the others loaded, exit 1" \
		test "$rc" = 1 -a "$(j '{outcomes,created}')" = 2 -a "$(j '{input_errors}')" = 1 \
		-a "$(j '{failed_inputs,0,file}')" = "$TMP/unrdir/2.json"
	chmod 644 "$TMP/unr-locked.ndjson" "$TMP/unrdir/2.json"
fi

run -q --json "$TMP/no-such-file.json" "$TMP/no-such-either.json"
check "no input readable at all: exit 2, both named in the summary, nothing loaded" \
	test "$rc" = 2 -a "$(j '{input_errors}')" = 2 -a "$(j '{records}')" = 0

# --- -1 / --single-transaction, --transaction-per-record --------------------------------

reset_db
for i in $(seq 1 120); do
	if [ "$i" = 77 ]; then
		line denied-final.json "one-$i-$long"
	else
		line approved-final.json "one-$i"
	fi
done >"$TMP/one-bad.ndjson"
grep -v -- "-$long" "$TMP/one-bad.ndjson" >"$TMP/one-good.ndjson"
run -q --json -1 "$TMP/one-bad.ndjson"
check "-1, one record rejected: nothing committed, exit 1, committed false, 119 rolled back" \
	test "$rc" = 1 -a "$(rows)" = "0 0" -a "$(j '{committed}')" = false -a "$(j '{rolled_back}')" = 119 \
	-a "$(j '{server_errors}')" = 1 -a "$(j '{loaded}')" = 0
check "-1, one record rejected: reported at its line" \
	test "$(errlines)" = 77
run -q -1 "$TMP/one-bad.ndjson"
check "-1, text summary: \"transaction  rolled back\"" \
	eval 'test "$rc" = 1 && grep -Eq "^transaction +rolled back$" "$TMP/out" && grep -Eq "^rolled back +119$" "$TMP/out"'
{ cat "$TMP/one-good.ndjson"; echo '{"scanRef": "one-x", oops}'; } >"$TMP/one-parse.ndjson"
run -q --json --single-transaction "$TMP/one-parse.ndjson"
check "-1, one record of invalid JSON: nothing committed, exit 1" \
	test "$rc" = 1 -a "$(rows)" = "0 0" -a "$(j '{committed}')" = false -a "$(j '{parse_errors}')" = 1
run -q --json -1 "$TMP/one-good.ndjson" "$TMP/no-such-file.json"
check "-1, a missing file: nothing committed, exit 1" \
	test "$rc" = 1 -a "$(rows)" = "0 0" -a "$(j '{committed}')" = false
run -q --json -1 --savepoints "$TMP/one-bad.ndjson"
check "-1 --savepoints, one record rejected: nothing committed, exit 1" \
	test "$rc" = 1 -a "$(rows)" = "0 0" -a "$(j '{committed}')" = false -a "$(j '{server_errors}')" = 1
run -q --json -1 "$TMP/one-good.ndjson"
check "-1, all good: all 119 committed, in one transaction, exit 0" \
	test "$rc" = 0 -a "$(rows)" = "119 119" -a "$(j '{committed}')" = true -a "$(j '{outcomes,created}')" = 119 \
	-a "$(xacts 'one-%')" = 1
run -1 --jobs 2 "$TMP/one-good.ndjson"
check "-1 with --jobs 2: usage error, exit 2" test "$rc" = 2
run -1 --batch 10 "$TMP/one-good.ndjson"
check "-1 with --batch: usage error, exit 2" test "$rc" = 2
run -1 --transaction-per-record "$TMP/one-good.ndjson"
check "-1 with --transaction-per-record: usage error, exit 2" test "$rc" = 2

reset_db
run -q --json --transaction-per-record "$TMP/many.ndjson"
check "--transaction-per-record: 270 loaded, 30 rejected, one transaction each" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 30 -a "$(j '{outcomes,created}')" = 270 -a "$(xacts 'many-%')" = 270
run -q --json --single "$TMP/one-good.ndjson"
check "--single (deprecated): still one transaction per record, with a warning" \
	eval 'test "$rc" = 0 -a "$(xacts "one-%")" = 119 && grep -q "warning: --single is deprecated; it means --transaction-per-record" "$TMP/err"'

# --- event types per FILE ------------------------------------------------------------

reset_db
fixture approved-final.json resub-1 >"$TMP/ev-final.json"
line suspected-nonfinal.json resub-1 >"$TMP/ev-resub.ndjson"
run -q --json -e IDENTIFICATION_MANUAL_FINISHED "$TMP/ev-final.json" -e IDENTIFICATION_RESUBMITTED "$TMP/ev-resub.ndjson"
check "-e per FILE: a RESUBMITTED file after a final one: updated, each with its event type" \
	test "$rc" = 0 -a "$(sql "SELECT string_agg(outcome || '=' || event_type_raw, ' ' ORDER BY id) FROM idenfy.callback WHERE scan_ref = 'resub-1'")" = \
	"created=IDENTIFICATION_MANUAL_FINISHED updated=IDENTIFICATION_RESUBMITTED"
reset_db
run -q --json -e IDENTIFICATION_MANUAL_FINISHED "$TMP/ev-final.json" "$TMP/ev-resub.ndjson"
check "one -e for both files: the non-final one is stale (what per-FILE -e avoids)" \
	test "$rc" = 0 -a "$(j '{outcomes,stale}')" = 1
reset_db
mkdir -p "$TMP/evdir"
cp "$TMP/ev-resub.ndjson" "$TMP/evdir/resub.ndjson"
printf '{"event_type": "IDENTIFICATION_AUTO_FINISHED", "payload": %s}\n' "$(line denied-final.json resub-2)" >"$TMP/evdir/wrapped.ndjson"
line suspected-nonfinal.json resub-3 >"$TMP/ev-none.ndjson"
run -q --json -e IDENTIFICATION_MANUAL_FINISHED "$TMP/ev-final.json" -e IDENTIFICATION_RESUBMITTED "$TMP/evdir" -e '' "$TMP/ev-none.ndjson"
check "-e before a directory applies to its files, a wrapper's own type wins, -e '' means none" \
	test "$rc" = 0 -a "$(sql "SELECT string_agg(scan_ref || '=' || outcome || '=' || coalesce(event_type_raw, '-'), ' ' ORDER BY id) FROM idenfy.callback")" = \
	"resub-1=created=IDENTIFICATION_MANUAL_FINISHED resub-1=updated=IDENTIFICATION_RESUBMITTED resub-2=created=IDENTIFICATION_AUTO_FINISHED resub-3=created=-"
run -q "$TMP/ev-final.json" -e IDENTIFICATION_RESUBMITTED
check "-e after the last FILE: usage error, exit 2 (it would apply to nothing)" \
	eval 'test "$rc" = 2 && grep -q "no FILE follows the last one" "$TMP/err"'
reset_db
rc=0
"$LOAD" -q --json -e IDENTIFICATION_AUTO_FINISHED <"$TMP/ev-resub.ndjson" >"$TMP/out" 2>"$TMP/err" || rc=$?
check "-e without FILE: applies to standard input" \
	test "$rc" = 0 -a "$(sql "SELECT event_type_raw FROM idenfy.callback WHERE scan_ref = 'resub-1'")" = IDENTIFICATION_AUTO_FINISHED

# --- lock order: each transaction sent sorted by scanRef --------------------------------
#
# Callback ids grow in the order the server runs the records: inside a
# transaction that is scanRef order (bytewise: "so-B" before "so-a"), input
# order per scanRef, and transactions in input order.

{
	line suspected-nonfinal.json so-c
	line approved-final.json so-a
	line suspected-nonfinal.json so-B
	line approved-final.json so-c
	line approved-final.json so-f
	line approved-final.json so-d
	line approved-final.json so-e
} >"$TMP/sorted.ndjson"
# order: "ids in order" "outcomes of so-c in order"
order() {
	sql "SELECT string_agg(scan_ref, ' ' ORDER BY id) || ' / ' ||
	            (SELECT string_agg(outcome::text, ' ' ORDER BY id) FROM idenfy.callback WHERE scan_ref = 'so-c')
	       FROM idenfy.callback WHERE scan_ref LIKE 'so-%'"
}
reset_db
run -q --json --batch 4 "$TMP/sorted.ndjson"
check "--batch 4: each transaction in scanRef order (bytewise), so-c's two callbacks in input order" \
	test "$rc" = 0 -a "$(order)" = "so-B so-a so-c so-c so-d so-e so-f / created updated"
reset_db
run -q --json --batch 4 --savepoints "$TMP/sorted.ndjson"
check "--savepoints --batch 4: the same order" \
	test "$rc" = 0 -a "$(order)" = "so-B so-a so-c so-c so-d so-e so-f / created updated"
reset_db
run -q --json -1 "$TMP/sorted.ndjson"
check "-1: the whole run in scanRef order" \
	test "$rc" = 0 -a "$(order)" = "so-B so-a so-c so-c so-d so-e so-f / created updated"
reset_db
{ line denied-final.json "so-0-$long"; cat "$TMP/sorted.ndjson"; } >"$TMP/sorted-bad.ndjson"
run -q --json --batch 5 "$TMP/sorted-bad.ndjson"
check "a batch re-run after a rejected record keeps the scanRef order" \
	test "$rc" = 1 -a "$(j '{server_errors}')" = 1 -a "$(order)" = "so-B so-a so-c so-c so-d so-e so-f / created updated"
reset_db
run -q --json --transaction-per-record "$TMP/sorted.ndjson"
check "--transaction-per-record: input order (nothing to sort)" \
	test "$rc" = 0 -a "$(order)" = "so-c so-a so-B so-c so-f so-d so-e / created updated"

# --- lock order: concurrent loads do not deadlock ------------------------------------
#
# 3000 generated callbacks (test/gen/gen.sql) folded onto 150 scanRefs and
# shuffled; two runs at once over the same file, in each transaction mode:
# both exit 0, no deadlock in pg_stat_database nor a 40P01 in either summary,
# and the stored state is that of one sequential load.

psql -X -q -v ON_ERROR_STOP=1 -f "$HERE/../gen/gen.sql" >/dev/null 2>&1
sql "SELECT jsonb_build_object('event_type', event_type,
            'payload', jsonb_set(payload, '{scanRef}', to_jsonb('dl-' || (abs(hashtext(scan_ref)) % 150))))::text
       FROM idenfy_test.gen_callbacks(3000) ORDER BY md5(seq::text)" >"$TMP/dl.ndjson"
deadlocks() {
	sql "SELECT pg_catalog.pg_stat_force_next_flush(); SELECT deadlocks FROM pg_catalog.pg_stat_database WHERE datname = current_database()" | tail -n 1
}
reset_db
run -q --json "$TMP/dl.ndjson"
dl_state=$(state 'dl-%')
check "lock-order input: 3000 callbacks on 150 scanRefs, loaded sequentially, exit 0" \
	test "$rc" = 0 -a "$(j '{records}')" = 3000 -a "$(sql "SELECT count(*) FROM idenfy.verification")" = 150

# concurrently MODE...: two runs at once with these options
concurrently() {
	local rc1=0 rc2=0 before
	reset_db
	before=$(deadlocks)
	"$LOAD" -q --json "$@" "$TMP/dl.ndjson" >"$TMP/dl1.out" 2>"$TMP/dl1.err" &
	local p1=$!
	"$LOAD" -q --json "$@" "$TMP/dl.ndjson" >"$TMP/dl2.out" 2>"$TMP/dl2.err" &
	local p2=$!
	wait "$p1" || rc1=$?
	wait "$p2" || rc2=$?
	sleep 0.5
	dl_result="$rc1 $rc2 $(($(deadlocks) - before)) $(cat "$TMP/dl1.out" "$TMP/dl2.out" "$TMP/dl1.err" "$TMP/dl2.err" | grep -c 40P01)"
	cp "$TMP/dl1.out" "$TMP/out"
	cat "$TMP/dl1.err" "$TMP/dl2.err" >"$TMP/err"
}
concurrently
check "two loads at once (batches of 500): both exit 0, 0 deadlocks, no 40P01" \
	test "$dl_result" = "0 0 0 0"
check "two loads at once (batches of 500): the state of one sequential load" \
	test "$(state 'dl-%')" = "$dl_state"
concurrently --savepoints --batch 100
check "two loads at once (--savepoints --batch 100): exit 0, 0 deadlocks, the sequential state" \
	test "$dl_result" = "0 0 0 0" -a "$(state 'dl-%')" = "$dl_state"
concurrently -1
check "two loads at once (-1): exit 0, 0 deadlocks, the sequential state" \
	test "$dl_result" = "0 0 0 0" -a "$(state 'dl-%')" = "$dl_state"
concurrently --jobs 2 --batch 50
check "two loads at once (--jobs 2 --batch 50): exit 0, 0 deadlocks, the sequential state" \
	test "$dl_result" = "0 0 0 0" -a "$(state 'dl-%')" = "$dl_state"
sql "DROP SCHEMA IF EXISTS idenfy_test CASCADE" >/dev/null 2>&1

echo "1..$n"
if [ "$failed" -ne 0 ]; then
	echo "# $failed failed; database idenfy_load_test kept for inspection"
	exit 1
fi
psql -X -q -d "$ADMIN_DB" -c "DROP DATABASE IF EXISTS idenfy_load_test" >/dev/null 2>&1 || true
exit 0
