#!/usr/bin/env bash
# sqlsmith: a bounded run of SQLsmith (random SQL from the catalog of the target database)
# against a database with the extension and data in it: 500 generated callbacks, the fixtures,
# quarantined callbacks, tag policies, document expiration notices.  --exclude-catalog keeps
# the generated queries on the extension's tables and views (the routines of pg_catalog and of
# the extension stay available), a database-level statement_timeout bounds each query.
#
# Checks: no backend terminated by a signal (server log), no broken connection reported by
# sqlsmith, the server still accepts connections, the extension still ingests.  Reports the
# number of queries run and how many touched the extension's objects.  Then, since SQLsmith
# calls the extension's functions only now and then, random calls of each of them
# (test/hostile/random_calls.sql): no internal error (XX000), no crash.
#
#   IDENFY_SQLSMITH_QUERIES (default 6000), IDENFY_SQLSMITH_SECONDS (default 90),
#   IDENFY_SQLSMITH_SEED (default 42), IDENFY_RANDOM_CALLS (default 1500)
source "$(dirname "$0")/lib.bash"
DB=idenfy_sqlsmith
QUERIES=${IDENFY_SQLSMITH_QUERIES:-6000}
SECONDS_MAX=${IDENFY_SQLSMITH_SECONDS:-90}
SEED=${IDENFY_SQLSMITH_SEED:-42}
started=$(date +%s)
work=$(mktemp -d /tmp/idenfy-sqlsmith.XXXXXX)
trap 'rm -rf "$work"' EXIT

log=${IDENFY_SERVER_LOG:-}
if [ -z "$log" ]; then
	log="$(dirname "$(q -d postgres -c "SELECT current_setting('data_directory')")")/server.log"
fi
log_start=$(stat -c %s "$log" 2>/dev/null || echo 0)

if ! command -v sqlsmith >/dev/null; then
	notok "sqlsmith is not installed (apt-get install sqlsmith)"
	finish
	exit 1
fi

fresh_db $DB >/dev/null || { notok "create database $DB"; finish; exit 1; }
q -d $DB -f test/gen/gen.sql >/dev/null
q -d $DB >/dev/null <<'SQL'
CREATE EXTENSION pgcrypto;
SELECT idenfy_signing_key_add('sqlsmith', 'sqlsmith-key');
SELECT count(*) FROM idenfy_test.gen_callbacks(500, 5) g, idenfy_ingest(g.payload, g.event_type);
INSERT INTO idenfy.tag_policy VALUES ('DOC_MOBILE_PHOTO', 'APPROVED'), ('NAME', 'DENIED');
SET idenfy.on_invalid = 'quarantine';
SELECT idenfy_ingest('[1]'), idenfy_ingest('{"scanRef": 7}'), idenfy_ingest('{"scanRef": "q-1", "startTime": -1}');
SQL
for f in test/fixtures/*.json; do
	ev=IDENTIFICATION_AUTO_FINISHED
	case $f in *document-expiration*) ev=DOCUMENT_EXPIRATION ;; *expired*) ev=IDENTIFICATION_EXPIRED ;; *cancelled*) ev=IDENTIFICATION_CANCELLED ;; esac
	q -d $DB -v body="$(cat "$f")" -v ev=$ev -c "SELECT idenfy_ingest_body(:'body', :'ev')" >/dev/null 2>&1 || true
done
q -d postgres -c "ALTER DATABASE $DB SET statement_timeout = '1s'" \
	-c "ALTER DATABASE $DB SET idle_in_transaction_session_timeout = '5s'" \
	-c "ALTER DATABASE $DB SET lock_timeout = '1s'"
rows_before=$(q -d $DB -c "SELECT (SELECT count(*) FROM idenfy.verification) || ' verifications, ' || (SELECT count(*) FROM idenfy.callback) || ' callbacks, ' || (SELECT count(*) FROM idenfy.quarantine) || ' quarantined'")
ok "database $DB loaded: $rows_before"

# non-transactional objects sqlsmith could create as a superuser (dropped afterwards)
slots_before=$(q -d postgres -c "SELECT coalesce(string_agg(slot_name, ','), '') FROM pg_replication_slots")
origins_before=$(q -d postgres -c "SELECT coalesce(string_agg(roname, ','), '') FROM pg_replication_origin")

# the run: sqlsmith sends each generated query and reports progress on stderr
# (. ok, e error, S syntax error, t timeout, C broken connection) and its totals
t0=$(date +%s)
timeout --kill-after=10 "$SECONDS_MAX" sqlsmith \
	--target="host=$PGHOST port=$PGPORT dbname=$DB user=${PGUSER:-postgres} application_name=sqlsmith" \
	--max-queries="$QUERIES" --seed="$SEED" --exclude-catalog --verbose --dump-all-queries \
	>"$work/queries.sql" 2>"$work/progress.txt"
rc=$?
elapsed=$(($(date +%s) - t0))
# end whatever sqlsmith left running in its database (it may have raised statement_timeout)
q -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null

reported=$(grep -oE '^queries: [0-9]+' "$work/progress.txt" | tail -1 | grep -oE '[0-9]+')
progress=$(grep -E '^[.eStC]+$' "$work/progress.txt" | tr -d '\n')
n_ok=$(echo -n "$progress" | tr -cd . | wc -c)
n_err=$(echo -n "$progress" | tr -cd e | wc -c)
n_syntax=$(echo -n "$progress" | tr -cd S | wc -c)
n_timeout=$(echo -n "$progress" | tr -cd t | wc -c)
n_broken=$(echo -n "$progress" | tr -cd C | wc -c)
sent=${#progress}
generated=$(grep -c ';$' "$work/queries.sql" || true)
touching=$(awk 'BEGIN { RS = ";\n" } /idenfy/ { n++ } END { print n + 0 }' "$work/queries.sql")
calling=$(awk 'BEGIN { RS = ";\n" } /idenfy[a-z_]*\(|idenfy\.[a-z_]+\(/ { n++ } END { print n + 0 }' "$work/queries.sql")
echo "# sqlsmith exit status $rc after $elapsed s (124: stopped by the time bound)"
echo "# $(grep -E '^error rate' "$work/progress.txt" | tail -1)"
echo "# most frequent errors:"
awk '/^queries: / { buf = "" } /^[0-9]+\tERROR/ { buf = buf $0 "\n" } END { printf "%s", buf }' "$work/progress.txt" |
	sort -t'	' -k1,1nr | head -8 | sed 's/^/#   /'

if [ "$sent" -gt 0 ] && { [ "$rc" = 0 ] || [ "$rc" = 124 ]; }; then
	ok "sqlsmith ran $sent queries in $elapsed s (seed $SEED, bound $QUERIES queries / $SECONDS_MAX s): $n_ok ok, $n_err errors, $n_syntax syntax errors, $n_timeout timeouts; $touching used the extension's tables or views, $calling called its functions"
else
	notok "sqlsmith did not run (exit status $rc): $(tail -3 "$work/progress.txt" | tr '\n' ' ')"
fi
check "sqlsmith saw no broken connection" "$n_broken" 0

crashes=$(tail -c +$((log_start + 1)) "$log" 2>/dev/null | grep -cE 'terminated by signal|server process .* was terminated|PANIC|TRAP:' || true)
check "server log ($log): no backend terminated by a signal during the run" "$crashes" 0
if [ "$crashes" != 0 ] || [ "$n_broken" != 0 ]; then
	keep=/tmp/idenfy-sqlsmith-crash-$(date +%Y%m%d%H%M%S)
	mkdir -p "$keep" && cp "$work/queries.sql" "$work/progress.txt" "$keep/"
	tail -c +$((log_start + 1)) "$log" | grep -E -B2 -A8 'terminated by signal' | head -40 | sed 's/^/# /'
	echo "# queries and progress kept in $keep"
fi

# SQLsmith reaches the extension's functions only now and then: random calls of each of them
# with arguments from per-type pools of edge values and stored data (test/hostile/random_calls.sql)
CALLS=${IDENFY_RANDOM_CALLS:-1500}
t0=$(date +%s)
if psql -X -qAt -v ON_ERROR_STOP=1 -d $DB -v n="$CALLS" -v seed=0.7 -f test/hostile/random_calls.sql >"$work/calls.out" 2>"$work/calls.err"; then
	nfn=$(grep -c '^F ' "$work/calls.out")
	states=$(awk '$1 == "S" { printf "%s%s: %s", (n++ ? ", " : ""), $2, $3 }' "$work/calls.out")
	odd=$(grep -c '^X ' "$work/calls.out" || true)
	line="$CALLS random calls of the extension's $nfn functions (each rolled back): $states; $(($(date +%s) - t0)) s"
	if [ "$odd" = 0 ]; then ok "$line"; else notok "$line"; grep '^X ' "$work/calls.out" | head -5 | sed 's/^/# /'; fi
	awk '$1 == "F" && $3 == 0 { printf "# never succeeded: %s (%s errors)\n", $2, $4 }' "$work/calls.out"
else
	notok "random calls: $(head -3 "$work/calls.err" | tr '\n' ' ')"
fi
crashes=$(tail -c +$((log_start + 1)) "$log" 2>/dev/null | grep -cE 'terminated by signal|server process .* was terminated|PANIC|TRAP:' || true)
check "server log: still no backend terminated by a signal" "$crashes" 0

check "the server accepts a new connection" "$(psql -X -qAt -d postgres -c 'SELECT 1' 2>&1)" 1
check "the extension still ingests in $DB" \
	"$(q -d $DB -c "SET statement_timeout = 0; SELECT outcome FROM idenfy_ingest('{\"scanRef\": \"after-sqlsmith\", \"final\": false}')" 2>&1)" "created"
echo "# rows before: $rows_before; after: $(q -d $DB -c "SELECT (SELECT count(*) FROM idenfy.verification) || ' verifications, ' || (SELECT count(*) FROM idenfy.callback) || ' callbacks, ' || (SELECT count(*) FROM idenfy.quarantine) || ' quarantined'")"

# drop what a superuser's random calls may have left outside the database
q -d postgres -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT slot_name = ANY (string_to_array('$slots_before', ','))" >/dev/null 2>&1 || true
q -d postgres -c "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE NOT roname = ANY (string_to_array('$origins_before', ','))" >/dev/null 2>&1 || true
q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
echo "# $(($(date +%s) - started)) s"
finish
