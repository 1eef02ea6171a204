#!/usr/bin/env bash
# hostile: the hostile callback corpus of test/hostile/ (generated at test time by
# test/hostile/gen_cases.py from test/hostile/fields.tsv, plus the hand-written cases), sent
# through the entry points twice: with idenfy.on_invalid = 'error', then 'quarantine'.
#
# Per case: a clear error (an allowed SQLSTATE class, never XX000) or a stored callback, as the
# case expects; no partial write (an error leaves the row count of every idenfy table unchanged,
# a quarantined callback adds exactly one quarantine row and nothing else); no callback value
# quoted in the error; and the server still accepts a new connection.  At the end the server log
# must show no backend terminated by a signal.  Then random mutations of generated callbacks
# (test/hostile/mutate.sql): class 22 errors only, nothing raised in quarantine mode.
#
# One TAP summary line per group, plus one "not ok" line per failing case.
# See test/hostile/README.md.  IDENFY_HOSTILE_MUTANTS (default 5000).
source "$(dirname "$0")/lib.bash"
DB=idenfy_hostile
KEY='hostile-signing-key'
started=$(date +%s)

work=$(mktemp -d /tmp/idenfy-hostile.XXXXXX)
chmod 755 "$work"
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# the server log: from check.sh, else next to the data directory
log=${IDENFY_SERVER_LOG:-}
if [ -z "$log" ]; then
	log="$(dirname "$(q -d postgres -c "SELECT current_setting('data_directory')")")/server.log"
fi
log_start=$(stat -c %s "$log" 2>/dev/null || echo 0)

# --- the corpus -----------------------------------------------------------
out=$(python3 test/hostile/gen_cases.py --check 2>&1)
rc=$?
if [ $rc = 0 ]; then
	ok "test/hostile/fields.tsv matches the field tables of src/read.c (${out##*$'\n'})"
elif [ $rc = 3 ]; then
	ok "test/hostile/fields.tsv not compared with src/read.c # SKIP $out"
else
	notok "test/hostile/fields.tsv differs from src/read.c: $(echo "$out" | head -5 | tr '\n' ';')"
fi
if gen=$(python3 test/hostile/gen_cases.py "$work/corpus" 2>&1); then
	ok "corpus: $gen"
else
	notok "corpus generation failed: $gen"
	finish
	exit 1
fi
manifest="$work/corpus/manifest.tsv"

fresh_db $DB || { notok "create database $DB"; finish; exit 1; }
q -d $DB -c "CREATE EXTENSION pgcrypto" -c "SELECT idenfy_signing_key_add('hostile', '$KEY')" >/dev/null

# run_pass PASS: the corpus through the entry points (test/hostile/runner.py); TAP lines
declare -A stat
run_pass() {
	local t0=$(date +%s) kind rest k v
	while IFS='|' read -r kind rest; do
		case $kind in
		ok) ok "$rest, $(($(date +%s) - t0)) s" ;;
		"not ok") if [[ "$rest" = summary:* ]]; then notok "${rest#summary: }, $(($(date +%s) - t0)) s"; else notok "$rest"; fi ;;
		diag) echo "# $rest" ;;
		stat) k=${rest%%|*} v=${rest#*|}; stat[$k]=$((${stat[$k]:-0} + v)) ;;
		esac
	done < <(python3 test/hostile/runner.py "$1" "$manifest" $DB "$work/pass1.json" 2>&1 || echo "not ok|runner.py failed")
}

for pass in 1 2; do
	run_pass $pass
	if [ $pass = 1 ]; then
		# what the duplicate keys and boundary cases stored
		check "duplicate keys: jsonb keeps the last scanRef" \
			"$(q -d $DB -c "SELECT string_agg(scan_ref, ',' ORDER BY scan_ref) FROM idenfy.verification WHERE scan_ref LIKE 'hw-dupkey-%'")" \
			"hw-dupkey-last,hw-dupkey-nested,hw-dupkey-valid"
		check "duplicate keys: the last clientId (a string after a number) was stored" \
			"$(q -d $DB -c "SELECT client_id FROM idenfy.verification WHERE scan_ref = 'hw-dupkey-valid'")" "hw-dupkey-client-last"
		check "duplicate keys: the last status object and its last overall were stored" \
			"$(q -d $DB -c "SELECT overall FROM idenfy.verification WHERE scan_ref = 'hw-dupkey-nested'")" "SUSPECTED"
		check "an escaped key (scan\\u0052ef) is the key scanRef" \
			"$(q -d $DB -c "SELECT count(*) FROM idenfy.verification WHERE scan_ref = 'hw-escaped-key'")" "1"
		check "a scanRef of exactly 40 two-byte characters is stored whole" \
			"$(q -d $DB -c "SELECT count(*) FROM idenfy.verification WHERE scan_ref = repeat('é', 40)")" "1"
		check "limit-length two-byte values are stored whole (docFirstName: 100 characters, 200 bytes)" \
			"$(q -d $DB -c "SELECT count(*) FROM idenfy.document WHERE doc_first_name = repeat('é', 100)")" "1"
		check "duplicateFaces with 50,000 elements: 50,000 face links" \
			"$(q -d $DB -c "SELECT count(*) FROM idenfy.face_link WHERE scan_ref LIKE '%-duplicateFaces-50k'")" "50000"
		check "duplicateDocFaces with one scanRef 50,000 times: one face link" \
			"$(q -d $DB -c "SELECT count(*) FROM idenfy.face_link WHERE scan_ref LIKE '%-duplicateDocFaces-50k-same'")" "1"
		check "the 5 MB additionalData string is stored whole" \
			"$(q -d $DB -c "SELECT octet_length(additional_data->>'blob') FROM idenfy.document WHERE scan_ref LIKE '%-additionalData-5MB-string'")" "5242880"
		check "fraudTags with 100,000 elements (3 known tags, 1 unknown): 75,000 stored as tags, the unknown one in unknown_values, decision REVIEW" \
			"$(q -d $DB -c "SELECT cardinality(fraud_tags) || ' ' || (unknown_values->'status.fraudTags' ? 'SELFIE_FACE_FOUND') || ' ' || decision FROM idenfy.verification WHERE scan_ref LIKE '%-fraudTags-100k'")" "75000 true REVIEW"
		echo "# fraudTags-100k: unknown_values lists $(q -d $DB -c "SELECT jsonb_array_length(unknown_values->'status.fraudTags') FROM idenfy.verification WHERE scan_ref LIKE '%-fraudTags-100k'") entries for the 25,000 occurrences of its one unknown tag"
	fi
done

check "the server accepted a new connection after each of the ${stat[calls]:-0} calls" "${stat[down]:-x}" 0
check "no error quoted a callback value (HOSTILEVALUE, MARKER..., 198.51.100.x)" "${stat[leaks]:-x}" 0
check "no internal error (XX000)" "${stat[internal]:-x}" 0
check "quarantine: only the NULL-body cases have neither payload nor raw body" \
	"$(q -d $DB -c "SELECT count(*) FROM idenfy.quarantine WHERE payload IS NULL AND body IS NULL")" "3"
truncated=$(awk -F'\t' '$1 == "truncated-half" { print $5 }' "$manifest")
check "quarantine: an invalid body that is not JSON is kept byte for byte (truncated-half)" \
	"$(q -d $DB -c "SELECT count(*) FROM idenfy.quarantine WHERE body = pg_read_binary_file('$truncated')")" "1"
check "quarantine: the 5 MB payload with an invalid field is kept whole" \
	"$(q -d $DB -c "SELECT octet_length(payload->'data'->'additionalData'->>'blob') FROM idenfy.quarantine WHERE scan_ref LIKE '%-additionalData-5MB-plus-%'")" "5242881"
check "quarantine table: one row per quarantined or rejected call (${stat[quarantined]:-0})" \
	"$(q -d $DB -c "SELECT count(*) FROM idenfy.quarantine")" "${stat[quarantined]:-0}"

# --- random mutations of generated callbacks (test/hostile/mutate.sql) ----
MUTANTS=${IDENFY_HOSTILE_MUTANTS:-5000}
fresh_db ${DB}_mutants >/dev/null && q -d ${DB}_mutants -f test/gen/gen.sql >/dev/null
t0=$(date +%s)
if psql -X -qAt -v ON_ERROR_STOP=1 -d ${DB}_mutants -v n="$MUTANTS" -v seed=0.42 -f test/hostile/mutate.sql >"$work/mutants.out" 2>"$work/mutants.err"; then
	fmt() { awk -v m="$1" '$1 == m { printf "%s%s: %s", (n++ ? ", " : ""), $2, $3 }' "$work/mutants.out"; }
	bad=$(awk '($1 == "E" && $2 !~ /^22/) || ($1 == "Q" && $2 ~ /^RAISED/) || $1 == "X"' "$work/mutants.out" | wc -l)
	line="$MUTANTS random mutants of generated callbacks, each ingested with on_invalid = error: errors ($(fmt E)), results ($(fmt O)); and with quarantine: $(fmt Q); $(($(date +%s) - t0)) s"
	if [ "$bad" = 0 ]; then ok "$line"; else notok "$line"; grep '^X' "$work/mutants.out" | sed 's/^/# /'; fi
else
	notok "mutants: $(head -3 "$work/mutants.err" | tr '\n' ' ')"
fi
check "mutants: every verification's callback_id is a history row of its scanRef, no orphan child rows (file URLs and services are views of it)" \
	"$(q -d ${DB}_mutants -c "SELECT (SELECT count(*) FROM idenfy.verification v WHERE NOT EXISTS (SELECT 1 FROM idenfy.callback c WHERE c.id = v.callback_id AND c.scan_ref = v.scan_ref))
		+ (SELECT count(*) FROM idenfy.document x WHERE NOT EXISTS (SELECT 1 FROM idenfy.verification v WHERE v.scan_ref = x.scan_ref))
		+ (SELECT count(*) FROM idenfy.face_link x WHERE NOT EXISTS (SELECT 1 FROM idenfy.verification v WHERE v.scan_ref = x.scan_ref))")" 0
q -d postgres -c "DROP DATABASE ${DB}_mutants"

crashes=$(tail -c +$((log_start + 1)) "$log" 2>/dev/null | grep -cE 'terminated by signal|server process .* was terminated|PANIC|TRAP:' || true)
check "server log ($log): no backend terminated by a signal during the run" "$crashes" 0

q -d postgres -c "DROP DATABASE $DB"
echo "# $(($(date +%s) - started)) s"
finish
