#!/usr/bin/env bash
# dump_restore: pg_dump of a database with ingested callbacks restores
# intact into a new database, and the next ingest after the restore works.
source "$(dirname "$0")/lib.bash"
dump=$(mktemp /tmp/idenfy-dump.XXXXXX)

fresh_db idenfy_dump_src
q -d idenfy_dump_src -f test/gen/gen.sql >/dev/null
q -d idenfy_dump_src -c "SELECT count(*) FROM idenfy_test.gen_callbacks(500, 3) g, idenfy_ingest(g.payload, g.event_type)" >/dev/null
q -d idenfy_dump_src -c "SET idenfy.on_invalid = 'quarantine'; SELECT idenfy_ingest('[1]')" >/dev/null
q -d idenfy_dump_src -c "INSERT INTO idenfy.tag_policy VALUES ('DOC_MOBILE_PHOTO', 'APPROVED')"

pg_dump -Fc -d idenfy_dump_src -f "$dump" && ok "pg_dump" || notok "pg_dump"
q -d postgres -c "DROP DATABASE IF EXISTS idenfy_dump_dst" -c "CREATE DATABASE idenfy_dump_dst"
if pg_restore -d idenfy_dump_dst "$dump" 2>/tmp/idenfy-restore.err; then ok "pg_restore without errors"; else notok "pg_restore: $(head -3 /tmp/idenfy-restore.err)"; fi

while read -r t1 d1 t2 d2; do
	check "$t1 restored intact" "$d2" "$d1"
done < <(paste <(state_digest idenfy_dump_src) <(state_digest idenfy_dump_dst))
for t in quarantine tag_policy document_expiration; do
	check "$t restored" "$(q -d idenfy_dump_dst -c "SELECT count(*) FROM idenfy.$t")" \
		"$(q -d idenfy_dump_src -c "SELECT count(*) FROM idenfy.$t")"
done

# the sequence came along: a new callback gets an id after the old ones
check "ingest after restore: created" \
	"$(q -d idenfy_dump_dst -c "SELECT outcome FROM idenfy_ingest('{\"scanRef\": \"after-restore\", \"final\": true}')")" "created"
check "history id continues after the restored ones" \
	"$(q -d idenfy_dump_dst -c "SELECT (SELECT id FROM idenfy.callback WHERE scan_ref = 'after-restore') > max(id) FROM idenfy.callback WHERE scan_ref <> 'after-restore'")" "t"
check "a restored callback redelivered: duplicate" \
	"$(q -d idenfy_dump_dst -c "SELECT (idenfy_ingest(payload, event_type)).outcome FROM (SELECT payload, event_type::text FROM idenfy.callback ORDER BY id LIMIT 1) s")" "duplicate"

rm -f "$dump"
q -d postgres -c "DROP DATABASE idenfy_dump_src" -c "DROP DATABASE idenfy_dump_dst"
finish
