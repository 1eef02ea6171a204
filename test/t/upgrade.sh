#!/usr/bin/env bash
# upgrade: a database installed at 1.0.0 and updated to the current version
# has the same schema as a fresh install of the current version.
source "$(dirname "$0")/lib.bash"
current=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" idenfy.control)
q -d postgres -c "DROP DATABASE IF EXISTS idenfy_up_old" -c "CREATE DATABASE idenfy_up_old"
q -d postgres -c "DROP DATABASE IF EXISTS idenfy_up_new" -c "CREATE DATABASE idenfy_up_new"
q -d idenfy_up_old -c "CREATE EXTENSION idenfy VERSION '1.0.0'"
q -d idenfy_up_old -c "SELECT outcome FROM idenfy_ingest('{\"scanRef\": \"up-1\", \"final\": true}')" >/dev/null
if q -d idenfy_up_old -c "ALTER EXTENSION idenfy UPDATE"; then ok "ALTER EXTENSION idenfy UPDATE from 1.0.0"; else notok "ALTER EXTENSION idenfy UPDATE"; fi
check "updated to the current version" "$(q -d idenfy_up_old -c "SELECT extversion FROM pg_extension WHERE extname = 'idenfy'")" "$current"
q -d idenfy_up_new -c "CREATE EXTENSION idenfy"
check "fresh install at the current version" "$(q -d idenfy_up_new -c "SELECT extversion FROM pg_extension WHERE extname = 'idenfy'")" "$current"

# the extension's objects, described from the catalogs (pg_dump prints only
# "CREATE EXTENSION" for them)
schema_description() {
	q -d "$1" <<'SQL'
SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0) || ' comment=' || coalesce(obj_description(d.objid, d.classid::regclass::text), '')
  FROM pg_depend d WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy') AND d.deptype = 'e'
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
       || ' compression=' || a.attcompression::text || ' acl=' || coalesce(c.relacl::text, '')
  FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relnamespace = 'idenfy'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'idenfy'::regnamespace
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'idenfy'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'idenfy'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'view ' || c.relname || ' ' || pg_get_viewdef(c.oid) FROM pg_class c WHERE c.relnamespace = 'idenfy'::regnamespace AND c.relkind = 'v'
UNION ALL
SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '')
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy')
UNION ALL
SELECT 'config ' || array_to_string(ARRAY(SELECT x::regclass::text FROM unnest(extconfig) x ORDER BY 1), ',')
  FROM pg_extension WHERE extname = 'idenfy'
ORDER BY 1
SQL
}
old=$(mktemp) new=$(mktemp)
schema_description idenfy_up_old >"$old"
schema_description idenfy_up_new >"$new"
if [ "$(wc -l <"$new")" -lt 100 ]; then
	notok "schema description failed: only $(wc -l <"$new") lines"
elif diff -u "$new" "$old" >/tmp/idenfy-upgrade.diff; then
	ok "same schema ($(wc -l <"$new") catalog facts: members, columns, indexes, constraints, triggers, views, functions, privileges, dumped tables)"
else
	notok "schemas differ: $(head -20 /tmp/idenfy-upgrade.diff)"
fi
check "same enum labels in the same order" \
	"$(q -d idenfy_up_old -c "SELECT string_agg(t.typname || '.' || e.enumlabel, ',' ORDER BY t.typname, e.enumsortorder) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = 'idenfy'::regnamespace" | md5sum)" \
	"$(q -d idenfy_up_new -c "SELECT string_agg(t.typname || '.' || e.enumlabel, ',' ORDER BY t.typname, e.enumsortorder) FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = 'idenfy'::regnamespace" | md5sum)"
check "same extension members" \
	"$(q -d idenfy_up_old -c "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy') AND deptype = 'e'")" \
	"$(q -d idenfy_up_new -c "SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'idenfy') AND deptype = 'e'")"
rm -f "$old" "$new"
q -d postgres -c "DROP DATABASE idenfy_up_old" -c "DROP DATABASE idenfy_up_new"
finish
