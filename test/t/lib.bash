# test/t/lib.bash: TAP-style helpers for the scripted tests (sourced).
# The scripts run as the postgres user against the cluster of test/env.sh
# (PGHOST, PGPORT set); each prints "ok N - ..." or "not ok N - ...".
set -uo pipefail
n=0
bad=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); bad=$((bad + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION GOT WANT
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1 (got '$2', want '$3')"; fi
}
finish() { echo "1..$n"; [ "$bad" -eq 0 ]; }
q() { psql -X -v ON_ERROR_STOP=1 -qAt "$@"; }
fresh_db() { q -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" && q -d "$1" -c "CREATE EXTENSION idenfy"; }

# state_digest DB: md5 per table of the current state, without arrival
# times and history ids (which depend on the order of arrival)
state_digest() {
	q -d "$1" <<'SQL'
SELECT 'verification ' || md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.scan_ref), ''))
  FROM (SELECT scan_ref, client_id, external_ref, final, has_manual, cancelled, platform, overall,
               auto_face, manual_face, auto_document, manual_document, additional_step_status,
               fraud_tags, mismatch_tags, suspicion_reasons, deny_reasons, aml_result_class,
               peps_status, sanctions_status, adverse_media_status, start_time, finish_time,
               client_ip, client_ip_country, client_location, risk_score, risk_level,
               risk_assessment, additional_steps, unknown_values, event_type, decision,
               decision_reasons
          FROM idenfy.verification) x;
SELECT 'document ' || md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.scan_ref), '')) FROM idenfy.document x;
SELECT 'file_url ' || md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.scan_ref, x.source, x.name), '')) FROM idenfy.file_url x;
SELECT 'service_result ' || md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.scan_ref, x.list, x.ord), '')) FROM idenfy.service_result x;
SELECT 'face_link ' || md5(coalesce(string_agg(x::text, E'\n' ORDER BY x.scan_ref, x.kind, x.other_scan_ref), '')) FROM idenfy.face_link x;
SELECT 'history ' || md5(coalesce(string_agg(x.scan_ref || encode(x.payload_sha256, 'hex'), E'\n'
                                             ORDER BY x.scan_ref, x.payload_sha256), '')) FROM idenfy.callback x;
SQL
}
