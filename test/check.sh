#!/usr/bin/env bash
# test/check.sh: run every test of idenfy.
#
#   bash test/check.sh            # as root on a fresh Debian 12 or 13: installs, builds, tests
#
# Sets up everything (test/env.sh), then runs the pg_regress suite (sql/,
# expected/), the isolation specs (test/specs, test/expected) and the
# scripted tests (test/t/*.sh, test/load/run.sh).  Ends with the line
# "N passed, N failed" and a non-zero exit status when anything failed.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

IDENFY_CLEAN_BUILD=1
setup_all
trap stop_cluster EXIT

PGXS_DIR=$(dirname "$($PGBIN/pg_config --pgxs)")/..
OUT="$RUN/out"
rm -rf "$OUT"
mkdir -p "$OUT"
chown postgres "$OUT" 2>/dev/null || true
passed=0
failed=0
failures=""

count() {
	# count() LOG: tally "... ok" / "... FAILED" lines of pg_regress, "ok N" / "not ok N" of TAP
	local ok bad
	ok=$(grep -Ec '(\.\.\. ok|^ok [0-9]+)' "$1" || true)
	bad=$(grep -Ec '(\.\.\. FAILED|\.\.\. failed|^not ok [0-9]+)' "$1" || true)
	passed=$((passed + ok))
	failed=$((failed + bad))
	if [ "$bad" -gt 0 ]; then
		failures="$failures $(basename "$1" .log)"
	fi
}

# the build (as root, where check.sh builds): no compiler warning on this major
if [ -n "${BUILD_WARNINGS:-}" ]; then
	say "build: PostgreSQL $PGMAJOR"
	if [ "$BUILD_WARNINGS" -eq 0 ]; then
		echo "ok 1 - make: 0 compiler warnings on PostgreSQL $PGMAJOR" | tee "$OUT/build.log"
	else
		echo "not ok 1 - make: $BUILD_WARNINGS compiler warnings on PostgreSQL $PGMAJOR" | tee "$OUT/build.log"
	fi
	count "$OUT/build.log"
fi

regress_opts="--bindir=$PGBIN --host=$PGHOST --port=$PGPORT --load-extension=idenfy"

# IDENFY_TEST_ONLY="NAME ...": only these scripts (test/t/NAME.sh, load for test/load/run.sh), for development
if [ -z "${IDENFY_TEST_ONLY:-}" ]; then
say "pg_regress: $(make -s -C "$ROOT" print-REGRESS)"
as_postgres "cd '$TREE' && '$PGXS_DIR/test/regress/pg_regress' --inputdir=. --outputdir='$OUT/regress' \
	--dbname=idenfy_regress $regress_opts $(make -s -C "$ROOT" print-REGRESS)" >"$OUT/regress.log" 2>&1 || true
cat "$OUT/regress.log" | grep -E '^(test| +[0-9]|ok|not ok)|\.\.\.' || true
count "$OUT/regress.log"

say "isolation: $(make -s -C "$ROOT" print-ISOLATION)"
as_postgres "cd '$TREE' && '$PGXS_DIR/test/isolation/pg_isolation_regress' --inputdir=test --outputdir='$OUT/isolation' \
	--dbname=idenfy_isolation $regress_opts $(make -s -C "$ROOT" print-ISOLATION)" >"$OUT/isolation.log" 2>&1 || true
grep -E '\.\.\.' "$OUT/isolation.log" || true
count "$OUT/isolation.log"

fi

for t in "$TREE"/test/t/*.sh "$TREE"/test/load/run.sh; do
	[ -f "$t" ] || continue
	if [ -n "${IDENFY_TEST_ONLY:-}" ]; then
		[[ " $IDENFY_TEST_ONLY " == *" $(basename "$t" .sh) "* ]] ||
			{ [ "$t" = "$TREE/test/load/run.sh" ] && [[ " $IDENFY_TEST_ONLY " == *" load "* ]]; } || continue
	fi
	name=$(basename "$(dirname "$t")")-$(basename "$t" .sh)
	say "script: ${t#$TREE/}"
	rc=0
	as_postgres "cd '$TREE' && PGHOST='$PGHOST' PGPORT='$PGPORT' PGUSER=postgres PGDATABASE=postgres \
		PGBIN='$PGBIN' IDENFY_LOAD='$PGBIN/idenfy-load' IDENFY_SERVER_LOG='$RUN/server.log' PATH='$PGBIN:$PATH' bash '$t'" >"$OUT/$name.log" 2>&1 || rc=$?
	grep -E '^(ok|not ok) [0-9]+' "$OUT/$name.log" || true
	count "$OUT/$name.log"
	# a script that dies without saying "not ok" still fails
	if [ "$rc" -ne 0 ] && ! grep -qE '^not ok [0-9]+' "$OUT/$name.log"; then
		echo "not ok - ${t#$TREE/} exited with status $rc:"
		tail -5 "$OUT/$name.log"
		failed=$((failed + 1))
		failures="$failures $name"
	fi
done

for f in "$OUT"/regress/regression.diffs "$OUT"/isolation/regression.diffs; do
	if [ -s "$f" ]; then
		say "differences: $f"
		head -200 "$f"
	fi
done
[ -z "$failures" ] || say "failed:$failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
