#!/usr/bin/env bash
# memory: 100,000 ingests in ONE session (one backend) and its memory stays flat.
#
# The calls: 20,000 generated callbacks (test/gen/gen.sql) replayed 5 times, each round with
# its own scanRef suffix, so every round is a full realistic stream (created, updated, stale,
# duplicate); 1 in 100 is made invalid (clientId a number) and quarantined
# (idenfy.on_invalid = 'quarantine'); 1 in 10 goes through idenfy_ingest_signed (text body,
# HMAC by pgcrypto), the others through idenfy_ingest.  Batches of 1,000 calls, one statement
# and one transaction each (short transactions, as a webhook's), all in one psql session.
#
# Measured in that backend after a 10,000-call warm-up (the catalog, plan and vocabulary
# caches are filled by then and are bounded by the number of objects, not of calls) and after
# 20,000, 50,000 and 100,000 calls: the total of pg_backend_memory_contexts, and RssAnon of
# /proc/<backend>/status (private anonymous memory, which also sees malloc'ed memory outside
# the memory contexts, e.g. OpenSSL's hash contexts; shared buffers are not in it).
# Bounds between 10,000 and 100,000 calls: memory contexts +1 MB, RssAnon +5 MB.  A leak of
# 12 bytes per call (contexts) or 58 bytes per call (RSS) over the 90,000 calls crosses them;
# the slack absorbs malloc fragmentation and the growth of per-backend hash tables.
# Then idenfy_reprocess(true) and idenfy.recompute_decisions over every verification stored: their
# peak private memory bounded (32 MB plus 300 bytes a row for PostgreSQL's own trigger and NOTIFY
# queues), not 8 kB a row.
#   IDENFY_MEMORY_CALLS (default 100000), IDENFY_MEMORY_DISTINCT (default 20000)
source "$(dirname "$0")/lib.bash"
DB=idenfy_memory
CALLS=${IDENFY_MEMORY_CALLS:-100000}
DISTINCT=${IDENFY_MEMORY_DISTINCT:-20000}
BATCH=1000
CTX_BOUND=$((1024 * 1024))
RSS_BOUND_KB=5120
started=$(date +%s)
work=$(mktemp -d /tmp/idenfy-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT

fresh_db $DB >/dev/null || { notok "create database $DB"; finish; exit 1; }
q -d $DB -c "CREATE EXTENSION pgcrypto" >/dev/null
q -d $DB -f test/gen/gen.sql >/dev/null
q -d $DB -c "CREATE TABLE gen AS SELECT * FROM idenfy_test.gen_callbacks($DISTINCT, 17)" \
	-c "ALTER TABLE gen ADD PRIMARY KEY (seq)" -c "SELECT idenfy_signing_key_add('memory', 'memory-key')" >/dev/null
check "generated $DISTINCT distinct callbacks" "$(q -d $DB -c 'SELECT count(*) FROM gen')" "$DISTINCT"

# the session's script: batches, and a measurement at the chosen points
measure() { # LABEL
	cat <<SQL
SELECT 'M $1 ' || (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) || ' '
	|| (SELECT sum(used_bytes) FROM pg_backend_memory_contexts) || ' '
	|| (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\s+(\d+)'))[1] || ' '
	|| (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\s+(\d+)'))[1] || ' ' || pg_backend_pid();
SELECT 'C|$1|' || name || '|' || sum(total_bytes) FROM pg_backend_memory_contexts GROUP BY name;
SQL
}
{
	echo "SET synchronous_commit = off;"
	echo "SET idenfy.on_invalid = 'quarantine';"
	echo "SET client_min_messages = warning;"
	echo "SELECT 'PID ' || pg_backend_pid();"
	done_calls=0
	while [ $done_calls -lt "$CALLS" ]; do
		round=$((done_calls / DISTINCT + 1))
		lo=$((done_calls % DISTINCT + 1))
		hi=$((lo + BATCH - 1))
		# the payloads of this batch: scanRef suffixed with the round, 1 in 100 invalid
		staged="SELECT g.seq, g.event_type, CASE WHEN g.seq % 100 = 0 THEN jsonb_set(p.p, '{clientId}', '7') ELSE p.p END AS payload
			FROM gen g, LATERAL (SELECT jsonb_set(g.payload, '{scanRef}', to_jsonb(g.scan_ref || '-$round')) AS p) p
			WHERE g.seq BETWEEN $lo AND $hi"
		echo "SELECT 'N ' || count(*) FROM ($staged) s, idenfy_ingest(s.payload, s.event_type) i WHERE s.seq % 10 <> 5;"
		echo "SELECT 'N ' || count(*) FROM ($staged) s, idenfy_ingest_signed(s.payload::text, encode(hmac(s.payload::text, 'memory-key', 'sha256'), 'hex'), s.event_type) i WHERE s.seq % 10 = 5;"
		done_calls=$((done_calls + BATCH))
		case $done_calls in
		10000 | 20000 | 50000 | "$CALLS") measure $done_calls ;;
		esac
	done
} >"$work/session.sql"

t0=$(date +%s)
if q -d $DB -f "$work/session.sql" >"$work/session.out" 2>"$work/session.err"; then
	ok "one session ran $CALLS calls in $(($(date +%s) - t0)) s"
else
	notok "the session failed: $(head -3 "$work/session.err" | tr '\n' ' ')"
fi
calls=$(awk '/^N / { n += $2 } END { print n + 0 }' "$work/session.out")
pids=$(awk '/^PID / { print $2 } /^M / { print $NF }' "$work/session.out" | sort -u | wc -l)
check "all $CALLS calls returned a row" "${calls:-0}" "$CALLS"
check "one backend for the whole run" "$pids" 1
echo "# outcomes: $(q -d $DB -c "SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome) FROM (SELECT outcome, count(*) n FROM idenfy.callback GROUP BY 1) s"), quarantined $(q -d $DB -c 'SELECT count(*) FROM idenfy.quarantine') (duplicates are not stored)"

# the measurements: calls, contexts total, contexts used, RssAnon kB, VmRSS kB
while read -r _ at total used anon rss _; do
	echo "# after $at calls: memory contexts $total bytes ($used used), RssAnon $anon kB, VmRSS $rss kB"
	eval "ctx_$at=$total anon_$at=$anon"
done < <(grep '^M ' "$work/session.out")
ctx_a=${ctx_10000:-} ctx_b=$(eval echo "\${ctx_$CALLS:-}")
anon_a=${anon_10000:-} anon_b=$(eval echo "\${anon_$CALLS:-}")
if [ -n "$ctx_a" ] && [ -n "$ctx_b" ]; then
	growth=$((ctx_b - ctx_a))
	if [ "$growth" -lt "$CTX_BOUND" ]; then
		ok "memory contexts flat: $ctx_a bytes after 10,000 calls, $ctx_b after $CALLS (growth $growth bytes < $CTX_BOUND)"
	else
		notok "memory contexts grew by $growth bytes between 10,000 and $CALLS calls ($ctx_a -> $ctx_b; bound $CTX_BOUND)"
		# which contexts grew
		awk -F'|' -v b="$CALLS" '$1 == "C" && $2 == 10000 { a[$3] = $4 } $1 == "C" && $2 == b { z[$3] = $4 }
			END { for (k in z) if (z[k] != a[k]) print z[k] - a[k], k }' "$work/session.out" |
			sort -rn | head -5 | sed 's/^/#   grew: /'
	fi
	anon_growth=$((anon_b - anon_a))
	if [ "$anon_growth" -lt "$RSS_BOUND_KB" ]; then
		ok "backend RssAnon flat: $anon_a kB after 10,000 calls, $anon_b kB after $CALLS (growth $anon_growth kB < $RSS_BOUND_KB kB)"
	else
		notok "backend RssAnon grew by $anon_growth kB between 10,000 and $CALLS calls ($anon_a -> $anon_b kB; bound $RSS_BOUND_KB kB)"
	fi
else
	notok "no measurements (see the session's errors: $(head -2 "$work/session.err" | tr '\n' ' '))"
fi

# idenfy_reprocess(true) and idenfy.recompute_decisions over every verification, each in a session
# of its own: what one row allocates is freed after it, so the backend's private memory (RssAnon,
# sampled every 0.1 s from /proc while the call runs) stays within a bound that does not grow with
# the number of rows.  Keeping each row's callback struct (~8 kB) to the end would add ~8 kB per row:
# hundreds of MB here.  What does grow per row is PostgreSQL's own per-transaction queues (the
# AFTER trigger events and the pending NOTIFYs of the decision trigger, some 100-300 bytes a row).
nver=$(q -d $DB -c "SELECT count(*) FROM idenfy.verification")
PEAK_BOUND_KB=$((32768 + nver * 300 / 1024))
peak_anon() { # SQL: run it in a new session, print "<max RssAnon kB> <output>"
	local tag=idenfy_memory_$$_$RANDOM max=0 pid="" a
	q -d $DB -c "SET application_name = '$tag'" -c "SET client_min_messages = warning" -c "$1" >"$work/peak.out" 2>&1 &
	local job=$!
	while kill -0 $job 2>/dev/null; do
		[ -n "$pid" ] || pid=$(q -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$tag'")
		if [ -n "$pid" ] && a=$(awk '/^RssAnon:/ { print $2 }' /proc/$pid/status 2>/dev/null) && [ -n "$a" ]; then
			[ "$a" -gt "$max" ] && max=$a
		fi
		sleep 0.1
	done
	wait $job
	echo "$max $(tr '\n' ' ' <"$work/peak.out")"
}
read -r r_peak r_out < <(peak_anon "SELECT reprocessed FROM idenfy_reprocess(true)")
read -r d_peak d_out < <(peak_anon "SELECT idenfy.recompute_decisions(ARRAY[NULL]::text[])")
if [ "${r_out%% *}" = "$nver" ] && [ "$r_peak" -gt 0 ] && [ "$d_peak" -gt 0 ]; then
	if [ "$r_peak" -lt "$PEAK_BOUND_KB" ] && [ "$d_peak" -lt "$PEAK_BOUND_KB" ]; then
		ok "idenfy_reprocess(true) and recompute_decisions over $nver verifications: peak RssAnon $r_peak kB and $d_peak kB (< $PEAK_BOUND_KB kB)"
	else
		notok "idenfy_reprocess(true) / recompute_decisions over $nver verifications: peak RssAnon $r_peak kB / $d_peak kB, bound $PEAK_BOUND_KB kB"
	fi
else
	notok "reprocess/recompute measurement failed: reprocessed '${r_out}', recomputed '${d_out}', peaks $r_peak/$d_peak kB"
fi

q -d postgres -c "DROP DATABASE $DB"
echo "# $(($(date +%s) - started)) s"
finish
