#!/usr/bin/env bash
# bench/lifecycle.sh: time to forget one person among N verifications and to
# purge M of them (issue: personal data lifecycle).
#
#   bash bench/lifecycle.sh [N=1000000] [M=100000]     # as root, from the project folder
#   KEEP_DB=1 bash bench/lifecycle.sh                   # only build bench_lifecycle, keep it
#
# Builds the data set quickly: 100,000 generated callbacks go through
# idenfy_ingest, then every table's rows are copied with a suffix on scanRef
# and clientId until there are N verifications (plain INSERT ... SELECT: the
# copies are what ingest would have written, without paying for it N times).
# Then: idenfy_forget_client for a few people, idenfy_forget_scan, and
# idenfy_purge in batches of 1,000 over M verifications made old.
set -euo pipefail
N=${1:-1000000}
M=${2:-100000}
export IDENFY_RUN_NAME=${IDENFY_RUN_NAME:-.run-bench} IDENFY_TEST_PORT=${IDENFY_TEST_PORT:-54339}
source "$(dirname "${BASH_SOURCE[0]}")/../test/env.sh"
setup_all
q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
db=bench_lifecycle
q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
q -d $db -c "CREATE EXTENSION idenfy"
q -d $db -f "$ROOT/test/gen/gen.sql" >/dev/null
say "ingesting 100,000 generated callbacks"
q -d $db -c "SELECT count(*) FROM idenfy_test.gen_callbacks(100000, 11) g, idenfy_ingest(g.payload, g.event_type)" >/dev/null
base=$(q -d $db -c "SELECT count(*) FROM idenfy.verification")
copies=$(( (N + base - 1) / base - 1 ))
say "copying $base verifications $copies times"
for i in $(seq 1 $copies); do
	q -d $db <<SQL
INSERT INTO idenfy.verification SELECT (jsonb_populate_record(v, jsonb_build_object('scan_ref', v.scan_ref || '-$i', 'client_id', v.client_id || '-$i', 'callback_id', v.callback_id + $i * 1000000))).* FROM idenfy.verification v WHERE v.scan_ref NOT LIKE '%-%-%-%-%-%';
INSERT INTO idenfy.document SELECT (jsonb_populate_record(d, jsonb_build_object('scan_ref', d.scan_ref || '-$i'))).* FROM idenfy.document d WHERE d.scan_ref NOT LIKE '%-%-%-%-%-%';
INSERT INTO idenfy.face_link SELECT (jsonb_populate_record(l, jsonb_build_object('scan_ref', l.scan_ref || '-$i', 'other_scan_ref', l.other_scan_ref || '-$i'))).* FROM idenfy.face_link l WHERE l.scan_ref NOT LIKE '%-%-%-%-%-%';
INSERT INTO idenfy.callback SELECT (jsonb_populate_record(c, jsonb_build_object('scan_ref', c.scan_ref || '-$i', 'id', c.id + $i * 1000000))).* FROM idenfy.callback c WHERE c.scan_ref NOT LIKE '%-%-%-%-%-%';
SQL
done
q -d $db -c "VACUUM ANALYZE"
total=$(q -d $db -c "SELECT count(*) FROM idenfy.verification")
say "$total verifications, $(q -d $db -c "SELECT count(*) FROM idenfy.callback") callbacks"

if [ -n "${KEEP_DB:-}" ]; then
	say "kept the database $db (KEEP_DB): no erasure run"
	exit 0
fi

t() { # t LABEL SQL: milliseconds of one statement
	local ms
	ms=$(q -d $db -c "\\timing on" -c "$2" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
	printf '| %s | %s ms |\n' "$1" "$ms"
}
echo
echo "| measure ($total verifications) | time |"
echo "|---|---:|"
for c in client-000100 client-001000 client-001500; do
	n=$(q -d $db -c "SELECT count(*) FROM idenfy.verification WHERE client_id = '$c'")
	t "idenfy_forget_client('$c'): $n verifications" "SELECT * FROM idenfy_forget_client('$c')"
done
s=$(q -d $db -c "SELECT scan_ref FROM idenfy.verification ORDER BY scan_ref LIMIT 1 OFFSET 5000")
t "idenfy_forget_scan (one verification)" "SELECT * FROM idenfy_forget_scan('$s')"
q -d $db -c "UPDATE idenfy.verification SET updated_at = now() - interval '6 years' WHERE scan_ref IN (SELECT scan_ref FROM idenfy.verification ORDER BY scan_ref LIMIT $M)"
q -d $db -c "UPDATE idenfy.callback SET received_at = now() - interval '6 years' WHERE scan_ref IN (SELECT scan_ref FROM idenfy.verification WHERE updated_at < now() - interval '5 years')"
q -d $db -c "VACUUM ANALYZE idenfy.verification, idenfy.callback"
start=$(date +%s.%N)
batches=0
while :; do
	more=$(q -d $db -c "SELECT more FROM idenfy_purge('5 years', false, 1000)")
	batches=$((batches + 1))
	[ "$more" = t ] || break
done
end=$(date +%s.%N)
printf "| idenfy_purge of %s verifications (%s batches of 1,000, each committed) | %s s |\n" "$M" "$batches" "$(awk "BEGIN{printf \"%.1f\", $end - $start}")"
printf '| erased rows left (of %s) | %s |\n' "$M" "$(q -d $db -c "SELECT count(*) FROM idenfy.verification WHERE updated_at < now() - interval '5 years'")"
q -d postgres -c "DROP DATABASE $db"
