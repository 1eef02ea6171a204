#!/usr/bin/env bash
# receivers: the example webhook receivers (examples/flask, examples/express)
# over real HTTP on 127.0.0.1.  Each app, run as a role that may only call
# idenfy_ingest_signed and idenfy_decision, gets every fixture and the bad
# bodies with curl --data-binary; checked: the HTTP status of the README's
# table, the outcome, the stored state (the same as the same bodies ingested
# directly in another database), the quarantined bodies byte for byte, and
# one stdout line per decision change (none for duplicates).  Then the
# on_invalid = 'error' statuses (500, 401, 422) and an unreachable database
# (503).
source "$(dirname "$0")/lib.bash"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FIX=$TOP/test/fixtures
KEY='some secret'
ROLE=idenfy_webhook
REF_DB=idenfy_recv_ref
# everything the test writes (bodies, app output, node_modules, npm's cache)
# goes to the run folder, where the cluster's socket is; else a temporary one
if [ -d "${PGHOST:-}" ] && [ -w "$PGHOST" ]; then
	WORK=$PGHOST/receivers
else
	WORK=$(mktemp -d /tmp/idenfy-receivers.XXXXXX)
fi
mkdir -p "$WORK"
rm -rf "$WORK/bodies" "$WORK"/*.out "$WORK"/*.err "$WORK/nosocket"
mkdir -p "$WORK/bodies" "$WORK/nosocket"
B=$WORK/bodies
unset DATABASE_URL
APP_PID=""

stop_app() {
	if [ -n "$APP_PID" ]; then
		kill "$APP_PID" 2>/dev/null
		wait "$APP_PID" 2>/dev/null
		APP_PID=""
	fi
}
trap stop_app EXIT

sign() { openssl dgst -sha256 -hmac "$2" -r "$1" | cut -d' ' -f1; }  # sign FILE KEY
sha() { sha256sum "$1" | cut -d' ' -f1; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# lines LOG: the notification lines an app printed so far
lines() { grep -E '^(decision|erased) ' "$1" 2>/dev/null || true; }

# --- the bodies ------------------------------------------------------------
# a later delivery of a non-final callback that differs from the stored one:
# stale (an extra key is kept in the payload, not an error)
{ printf '{"deliveryAttempt": 2,'; tail -c +2 "$FIX/nonfinal-auto.json"; } >"$B/nonfinal-auto-retry.json"
{ printf '{"deliveryAttempt": 2,'; tail -c +2 "$FIX/reference-example.json"; } >"$B/reference-example-retry.json"
printf '{"scanRef": "recv-notjson-1", "final": true,}\n' >"$B/not-json.json"
printf '{"scanRef": "recv-badutf8-1", "final": true, "data": {"docFirstName": "MARKERFIRST\xff\xfeX"}}\n' >"$B/bad-utf8.json"
printf '{"scanRef": "recv-badip-1", "final": true, "clientIp": "999.1.2.3"}\n' >"$B/bad-ip.json"
sed 's/client-001/client-666/' "$FIX/approved.json" >"$B/forged.json"
sed 's/client-010/client-667/' "$FIX/duplicate-faces-a.json" >"$B/wrong-key.json"
printf '{"final": true}\n' >"$B/no-scanref.json"
# the vendor's published test vector (shared/vendor/NOTES.md), key TestingKey
VENDOR_SIG=e7386736c7f0e8ee293a7637a316d64f7193c3197c133576e3f72061100180e2
check "the test signs as the vendor does (NOTES.md test vector)" \
	"$(sign "$FIX/community-fixture-nonfinal-approved.json" TestingKey)" "$VENDOR_SIG"

S6=91f4d6b2-3e7a-4c18-8f50-7a6b5c4d3e06
REF=26b3ac22-89ed-11ee-ba61-0a201119565b
# The deliveries, in order: body|event type|signature|outcome|scanRef in the answer
# (signature: ok, none, vendor, of:FILE (another body's), key:KEY; scanRef:
# - is null, * is not checked).  @ lines are actions between deliveries.
# The first delivery meets a fresh server connection.
STEPS="$FIX/approved.json|IDENTIFICATION_AUTO_FINISHED|none|rejected|-
$FIX/approved.json|IDENTIFICATION_AUTO_FINISHED|ok|created|5f0c2a7e-8d41-4b3a-9e6f-1a2b3c4d5e01
$FIX/document-expiration.json|DOCUMENT_EXPIRATION|ok|created|5f0c2a7e-8d41-4b3a-9e6f-1a2b3c4d5e01
$FIX/denied-face-mismatch.json|IDENTIFICATION_AUTO_FINISHED|ok|created|8a3e91d4-2c6b-4f0e-b7a1-6d5c4b3a2f02
$FIX/suspected-tags.json|IDENTIFICATION_AUTO_FINISHED|ok|created|c47b2e19-0a8d-4e53-a1f6-9b8c7d6e5f03
$FIX/expired-null-data.json|IDENTIFICATION_EXPIRED|ok|created|e1d9f3a0-7c2b-4a86-8b45-3c2d1e0f9a04
$FIX/cancelled.json|IDENTIFICATION_CANCELLED|ok|created|2b6a8c0e-4f1d-4d97-9a3c-5e4f3a2b1c05
$FIX/nonfinal-auto.json|IDENTIFICATION_AUTO_FINISHED|ok|created|$S6
$FIX/final-manual.json|IDENTIFICATION_MANUAL_FINISHED|ok|updated|$S6
$FIX/nonfinal-auto.json|IDENTIFICATION_AUTO_FINISHED|ok|duplicate|$S6
$B/nonfinal-auto-retry.json|IDENTIFICATION_AUTO_FINISHED|ok|stale|$S6
$FIX/rereview-manual.json|IDENTIFICATION_MANUAL_FINISHED|ok|updated|$S6
$FIX/resubmitted-nonfinal.json|IDENTIFICATION_RESUBMITTED|ok|updated|$S6
$FIX/unknown-enum.json|IDENTIFICATION_AUTO_FINISHED|ok|created|d3c5e7a9-1b2f-4e60-b8d4-0f1e2d3c4b09
$FIX/duplicate-faces-a.json|IDENTIFICATION_AUTO_FINISHED|ok|created|6e8f0a2c-5d3b-4a71-9c2e-8b7a6f5e4d0a
$FIX/duplicate-faces-b.json|IDENTIFICATION_AUTO_FINISHED|ok|created|a0b2c4d6-9e8f-4c3a-8d1b-2c3d4e5f6a0b
$FIX/reference-example.json|IDENTIFICATION_AUTO_FINISHED|ok|created|$REF
$FIX/community-fixture-nonfinal-approved.json|IDENTIFICATION_AUTO_FINISHED|vendor|created|scan-ref
$FIX/approved.json|IDENTIFICATION_AUTO_FINISHED|ok|duplicate|5f0c2a7e-8d41-4b3a-9e6f-1a2b3c4d5e01
$B/not-json.json|IDENTIFICATION_AUTO_FINISHED|ok|quarantined|-
$B/bad-utf8.json|IDENTIFICATION_AUTO_FINISHED|ok|quarantined|-
$B/bad-ip.json|IDENTIFICATION_AUTO_FINISHED|ok|quarantined|*
$B/forged.json|IDENTIFICATION_AUTO_FINISHED|of:$FIX/approved.json|rejected|-
$B/wrong-key.json|IDENTIFICATION_AUTO_FINISHED|key:other secret|rejected|-
@kill-listener
$FIX/expired-null-data.json|IDENTIFICATION_EXPIRED|ok|duplicate|e1d9f3a0-7c2b-4a86-8b45-3c2d1e0f9a04
@erase $REF
$B/reference-example-retry.json|IDENTIFICATION_AUTO_FINISHED|ok|erased|$REF"
# every other fixture (test/fixtures/*.json) too, with the event type of its
# row in test/fixtures/README.md; its outcome (?) must be the direct call's
for f in "$FIX"/*.json; do
	grep -qF "$f|" <<<"$STEPS" && continue
	event=$(grep -F "| \`$(basename "$f")\` |" "$FIX/README.md" | cut -d'|' -f4 | tr -d ' ')
	STEPS="$STEPS
$f|${event:-IDENTIFICATION_AUTO_FINISHED}|ok|?|*"
done
# what each scanRef's decision is by the README's rules after these deliveries
WANT_DECISIONS="2b6a8c0e-4f1d-4d97-9a3c-5e4f3a2b1c05 EXPIRED
5f0c2a7e-8d41-4b3a-9e6f-1a2b3c4d5e01 APPROVED
6e8f0a2c-5d3b-4a71-9c2e-8b7a6f5e4d0a APPROVED
8a3e91d4-2c6b-4f0e-b7a1-6d5c4b3a2f02 DENIED
91f4d6b2-3e7a-4c18-8f50-7a6b5c4d3e06 PENDING
a0b2c4d6-9e8f-4c3a-8d1b-2c3d4e5f6a0b APPROVED
c47b2e19-0a8d-4e53-a1f6-9b8c7d6e5f03 REVIEW
d3c5e7a9-1b2f-4e60-b8d4-0f1e2d3c4b09 REVIEW
e1d9f3a0-7c2b-4a86-8b45-3c2d1e0f9a04 EXPIRED
scan-ref PENDING"

signature_of() {  # signature_of FILE MODE: the Idenfy-Signature to send ("" = none)
	case $2 in
	ok) sign "$1" "$KEY" ;;
	none) ;;
	vendor) echo "$VENDOR_SIG" ;;
	of:*) sign "${2#of:}" "$KEY" ;;
	key:*) sign "$1" "${2#key:}" ;;
	esac
}
http_of() { [ "$1" = rejected ] && echo 401 || echo 200; }
field() { sed -n "s/.*\"$2\": *\(null\|\"[^\"]*\"\).*/\1/p" "$1" | tr -d '"'; }  # field RESPONSE KEY

# post URL FILE EVENT SIGNATURE [CONTENT-TYPE]: sets HTTP, OUTCOME, SCANREF, ERROR
post() {
	local hdr=(-H "Content-Type: ${5-application/json}")
	[ -n "$4" ] && hdr+=(-H "Idenfy-Signature: $4")
	HTTP=$(curl -sS --max-time 10 -o "$WORK/response" -w '%{http_code}' \
		-H "Idenfy-Event-Type: $3" "${hdr[@]}" --data-binary @"$2" "$1" 2>/dev/null) || true
	OUTCOME=$(field "$WORK/response" outcome)
	SCANREF=$(field "$WORK/response" scanRef)
	[ "$SCANREF" = null ] && SCANREF=-
	ERROR=$(field "$WORK/response" error)
}

# new_db DB: the database, the extension, the webhook role's grants, key k1
new_db() {
	fresh_db "$1" >/dev/null && q -d "$1" >/dev/null <<SQL
DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN CREATE ROLE $ROLE LOGIN; END IF; END\$\$;
GRANT EXECUTE ON FUNCTION idenfy_ingest_signed(bytea, text, text), idenfy_ingest_signed(text, text, text),
  idenfy_decision(text) TO $ROLE;
ALTER ROLE $ROLE SET idenfy.on_invalid = 'quarantine';
SELECT idenfy_signing_key_add('k1', '$KEY');
SQL
}

# start_app APP DB NAME [PGHOST]: the app as the webhook role on a free port,
# output in NAME.out and NAME.err; sets URL, OUT, ERR
start_app() {
	local port cmd i code
	port=$(free_port)
	OUT=$WORK/$3.out
	ERR=$WORK/$3.err
	case $1 in
	flask) cmd=(python3 "$TOP/examples/flask/app.py") ;;
	express) cmd=(node "$WORK/express/app.js") ;;
	esac
	PGHOST=${4:-$PGHOST} PGUSER=$ROLE PGDATABASE=$2 PORT=$port LISTEN_ADDR=127.0.0.1 \
		timeout 600 "${cmd[@]}" >"$OUT" 2>"$ERR" &
	APP_PID=$!
	URL=http://127.0.0.1:$port/idenfy/webhook
	for i in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null) || true
		[ "$code" != 000 ] && return 0
		kill -0 "$APP_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wait_for() {  # wait_for FILE PATTERN COUNT: until COUNT lines match (10 s at most)
	local i
	for i in $(seq 100); do
		[ "$(grep -cE "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
# state DB SCANREF: "decision final reasons" of a stored verification, or nothing
state() {
	q -d "$1" -c "SELECT v.decision || ' ' || v.final || ' ' || coalesce(array_to_string(d.reasons, ','), '')
	  FROM idenfy.verification v, idenfy_decision(v.scan_ref) d WHERE v.scan_ref = '$2'"
}

# --- the reference: the same deliveries as direct calls ----------------------
new_db "$REF_DB" || { notok "create database $REF_DB"; finish; exit 1; }
q -d "$REF_DB" -c "SELECT idenfy_signing_key_add('vendor', 'TestingKey')" >/dev/null
{
	echo "SET idenfy.on_invalid = 'quarantine';"
	while IFS='|' read -r file event mode want _; do
		case $file in
		@erase*) echo "DO \$\$BEGIN PERFORM idenfy_forget_scan('${file#@erase }'); END\$\$;" ;;
		@*) ;;
		*)
			sig=$(signature_of "$file" "$mode")
			echo "SELECT outcome FROM idenfy_ingest_signed(pg_read_binary_file('$file'), $([ -n "$sig" ] && echo "'$sig'" || echo NULL), '$event');"
			;;
		esac
	done <<<"$STEPS"
} >"$WORK/reference.sql"
mapfile -t REF_OUT < <(q -d "$REF_DB" -f "$WORK/reference.sql" 2>&1)
wants=($(grep -v '^@' <<<"$STEPS" | cut -d'|' -f4))
check "direct calls: the outcomes of the deliveries" \
	"$(for i in "${!wants[@]}"; do [ "${wants[i]}" = '?' ] || echo "${REF_OUT[i]:-}"; done | tr '\n' ' ')" \
	"$(for i in "${!wants[@]}"; do [ "${wants[i]}" = '?' ] || echo "${wants[i]}"; done | tr '\n' ' ')"

# --- the express app's modules, from the lock file ---------------------------
rm -rf "$WORK/express"
mkdir -p "$WORK/express"
cp "$TOP/examples/express/app.js" "$TOP/examples/express/package.json" "$TOP/examples/express/package-lock.json" "$WORK/express/"
if (cd "$WORK/express" && npm_config_cache="$WORK/npm-cache" npm_config_update_notifier=false \
	timeout 300 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1); then
	ok "express: npm ci from package-lock.json"
else
	notok "express: npm ci from package-lock.json: $(tail -3 "$WORK/npm.log")"
fi

for app in flask express; do
	DB=idenfy_recv_$app
	new_db "$DB" || { notok "$app: create database $DB"; continue; }
	q -d "$DB" -c "SELECT idenfy_signing_key_add('vendor', 'TestingKey')" >/dev/null
	if start_app "$app" "$DB" "$app" && wait_for "$OUT" '^listening on channel idenfy$' 1; then
		ok "$app: answers on 127.0.0.1 and listens on channel idenfy"
	else
		notok "$app: did not start: $(tail -3 "$ERR")"
		stop_app
		continue
	fi

	# deliveries; after each, the notification line when the decision or finality changed
	: >"$WORK/want-lines"
	k=-1
	declare -A seen=()  # scanRef -> its state after the last delivery
	while IFS='|' read -r file event mode want want_ref; do
		case $file in
		@kill-listener)
			check "$app: the listening connection is terminated" "$(q -d "$DB" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = '$DB' AND usename = '$ROLE' AND query ~* '^LISTEN'")" 1
			if wait_for "$OUT" '^listening on channel idenfy$' 2; then ok "$app: listens again"; else notok "$app: listens again"; fi
			continue
			;;
		@erase*)
			q -d "$DB" -c "SELECT idenfy_forget_scan('${file#@erase }')" >/dev/null
			seen[${file#@erase }]=""
			echo "erased ${file#@erase }" >>"$WORK/want-lines"
			wait_for "$OUT" '^(decision|erased) ' "$(wc -l <"$WORK/want-lines")"
			check "$app: a line for the erasure" "$(lines "$OUT" | tail -1)" "$(tail -1 "$WORK/want-lines")"
			continue
			;;
		esac
		k=$((k + 1))
		[ "$want" = '?' ] && want=${REF_OUT[k]:-}
		sr=$want_ref
		[ "$sr" = '*' ] && sr=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("scanRef") or "")' "$file" 2>/dev/null)
		[ "$sr" = - ] && sr=""
		before=${seen[${sr:-none}]:-}
		post "$URL" "$file" "$event" "$(signature_of "$file" "$mode")"
		[ "$want_ref" = '*' ] && SCANREF='*'
		check "$app: $(basename "$file") ($event, signature $mode)" "$HTTP $OUTCOME $SCANREF" "$(http_of "$want") $want $want_ref"
		after=$([ -z "$sr" ] || state "$DB" "$sr")
		[ -n "$sr" ] && seen[$sr]=$after
		read -r b_decision b_final _ <<<"$before"
		read -r a_decision a_final a_reasons <<<"$after"
		if [ -n "$after" ] && [ "$b_decision $b_final" != "$a_decision $a_final" ]; then
			echo "decision $sr ${b_decision:-null}->$a_decision final=$a_final reasons=$a_reasons" >>"$WORK/want-lines"
			wait_for "$OUT" '^(decision|erased) ' "$(wc -l <"$WORK/want-lines")"
			check "$app: a line for the decision change by $(basename "$file")" "$(lines "$OUT" | tail -1)" "$(tail -1 "$WORK/want-lines")"
		fi
	done <<<"$STEPS"
	# the body is read whatever the Content-Type: none (curl's "Content-Type:"
	# removes it), or a form's (curl's default for --data-binary)
	for ct in "" application/x-www-form-urlencoded; do
		post "$URL" "$FIX/cancelled.json" IDENTIFICATION_CANCELLED "$(sign "$FIX/cancelled.json" "$KEY")" "$ct"
		check "$app: cancelled.json again, Content-Type '$ct'" "$HTTP $OUTCOME" "200 duplicate"
	done
	sleep 1
	check "$app: one line per decision change, none for duplicate, stale, quarantined, rejected" \
		"$(lines "$OUT" | md5sum)" "$(md5sum <"$WORK/want-lines")"

	# the stored state
	declare -A stored=()
	while read -r sr decision; do stored[$sr]=$decision; done < <(q -d "$DB" -F ' ' -c "SELECT scan_ref, decision FROM idenfy.verification")
	while read -r sr want; do
		check "$app: decision of $sr" "${stored[$sr]:-}" "$want"
	done <<<"$WANT_DECISIONS"
	check "$app: $REF erased" "$(q -d "$DB" -c "SELECT count(*) FROM idenfy.verification WHERE scan_ref = '$REF'")/$(q -d "$DB" -c "SELECT count(*) FROM idenfy.erasure WHERE scan_ref = '$REF'")" "0/1"
	for c in "approved.json signature" "not-json.json invalid" "bad-utf8.json invalid" "forged.json signature" "wrong-key.json signature"; do
		f=${c% *}
		[ -f "$B/$f" ] && f=$B/$f || f=$FIX/$f
		check "$app: $(basename "$f") quarantined byte for byte, reason ${c#* }" \
			"$(q -d "$DB" -c "SELECT string_agg(reason, ',') FROM idenfy.quarantine WHERE sha256(body) = '\\x$(sha "$f")'")" "${c#* }"
	done
	check "$app: bad-ip.json quarantined, reason invalid" \
		"$(q -d "$DB" -c "SELECT string_agg(reason || ' ' || sqlstate, ',') FROM idenfy.quarantine WHERE payload->>'scanRef' = 'recv-badip-1'")" "invalid 22P02"
	check "$app: the same state as the direct calls" "$(state_digest "$DB")" "$(state_digest "$REF_DB")"
	qd="SELECT string_agg(reason || ' ' || sqlstate || ' ' || coalesce(encode(sha256(body), 'hex'), '') || ' ' || coalesce(payload::text, ''), E'\n' ORDER BY 1) FROM idenfy.quarantine"
	check "$app: the same quarantine as the direct calls" "$(q -d "$DB" -c "$qd" | md5sum)" "$(q -d "$REF_DB" -c "$qd" | md5sum)"
	stop_app
	check "$app: no personal data in its output" "$(cat "$OUT" "$ERR" | grep -cE 'MARKER|198\.51\.100\.|2001:db8::')" 0

	# idenfy.on_invalid = 'error', and no signing key at first
	SDB=idenfy_recv_${app}_strict
	new_db "$SDB" || { notok "$app: create database $SDB"; continue; }
	q -d "$SDB" -c "SELECT idenfy_signing_key_remove('k1')" -c "ALTER ROLE $ROLE IN DATABASE $SDB SET idenfy.on_invalid = 'error'" >/dev/null
	if start_app "$app" "$SDB" "$app-strict"; then
		post "$URL" "$FIX/approved.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$FIX/approved.json" "$KEY")"
		check "$app, no signing key: 500" "$HTTP $ERROR" "500 55000"
		q -d "$SDB" -c "SELECT idenfy_signing_key_add('k1', '$KEY')" >/dev/null
		post "$URL" "$B/forged.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$FIX/approved.json" "$KEY")"
		check "$app, on_invalid = error: forged body 401" "$HTTP $ERROR" "401 28000"
		post "$URL" "$FIX/approved.json" IDENTIFICATION_AUTO_FINISHED ""
		check "$app, on_invalid = error: no signature 401" "$HTTP $ERROR" "401 28000"
		post "$URL" "$B/not-json.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$B/not-json.json" "$KEY")"
		check "$app, on_invalid = error: not JSON 422" "$HTTP $ERROR" "422 22P02"
		post "$URL" "$B/no-scanref.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$B/no-scanref.json" "$KEY")"
		check "$app, on_invalid = error: no scanRef 422" "$HTTP $ERROR" "422 22023"
		post "$URL" "$FIX/approved.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$FIX/approved.json" "$KEY")"
		check "$app, on_invalid = error: a valid callback 200" "$HTTP $OUTCOME" "200 created"
		check "$app, on_invalid = error: nothing quarantined" "$(q -d "$SDB" -c "SELECT count(*) FROM idenfy.quarantine")" 0
	else
		notok "$app, on_invalid = error: did not start: $(tail -3 "$ERR")"
	fi
	stop_app

	# the database unreachable (no server socket in that folder)
	if start_app "$app" "$SDB" "$app-unreachable" "$WORK/nosocket"; then
		post "$URL" "$FIX/approved.json" IDENTIFICATION_AUTO_FINISHED "$(sign "$FIX/approved.json" "$KEY")"
		check "$app, database unreachable: 503" "$HTTP $ERROR" "503 08001"
		check "$app, database unreachable: still running" "$(kill -0 "$APP_PID" 2>/dev/null && echo yes)" yes
	else
		notok "$app, database unreachable: did not start: $(tail -3 "$ERR")"
	fi
	stop_app
	q -d postgres -c "DROP DATABASE $DB" -c "DROP DATABASE $SDB" >/dev/null
done

q -d postgres -c "DROP DATABASE $REF_DB" >/dev/null
rm -rf "$WORK/bodies" "$WORK/nosocket"
finish
