#!/usr/bin/env bash
# test/matrix.sh: run the whole suite on another PostgreSQL major.
#
#   bash test/matrix.sh MAJOR           # as root: 15 (bookworm), 17 (trixie), 18 (sid)
#   bash test/matrix.sh MAJOR --make    # only build, failing on any compiler warning
#
# In a Debian chroot of the suite that offers postgresql-MAJOR
# (test/chroot.sh: made once by debootstrap from the host's mirror, cached
# in .cache/chroot/), with a copy of the project in /build/idenfy: installs
# that major's server and dev packages and the test dependencies inside it
# and runs "bash test/check.sh" there, as the README says.  The host's own
# PostgreSQL is not touched.  Its last line is check.sh's
# "N passed, N failed"; the log is in .cache/matrix-MAJOR.log.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '==> %s\n' "$*" >&2; }
source "$ROOT/test/chroot.sh"

MAJOR=${1:?usage: test/matrix.sh MAJOR [--make]}
MODE=${2:-check}
[ "$(id -u)" = 0 ] || { say "test/matrix.sh runs as root (debootstrap, chroot)"; exit 2; }

started=$(date +%s)
chroot_for "$MAJOR"
trap chroot_leave EXIT
chroot_enter
chroot_copy_tree /build/idenfy
LOG=$ROOT/.cache/matrix-$MAJOR.log
say "PostgreSQL $MAJOR in a Debian $SUITE chroot ($CHROOT), log $LOG"

if [ "$MODE" = --make ]; then
	rc=0
	chroot_run IDENFY_PG_MAJOR="$MAJOR" bash -c '
		set -e
		cd /build/idenfy
		source test/env.sh
		install_packages
		make -s PG_CONFIG=$PGBIN/pg_config clean >/dev/null
		make PG_CONFIG=$PGBIN/pg_config 2>&1 >/dev/null | tee /tmp/make-stderr.txt
		$PGBIN/pg_config --version
		w=$(grep -c "warning:" /tmp/make-stderr.txt || true)
		echo "make on PostgreSQL '"$MAJOR"': $w warnings"
		[ "$w" -eq 0 ]' 2>&1 | tee "$LOG" || rc=$?
	exit $rc
fi

rc=0
chroot_run IDENFY_PG_MAJOR="$MAJOR" IDENFY_TEST_PORT="${IDENFY_TEST_PORT:-54329}" \
	${IDENFY_TEST_ONLY:+IDENFY_TEST_ONLY="$IDENFY_TEST_ONLY"} \
	bash /build/idenfy/test/check.sh >"$LOG" 2>&1 || rc=$?
grep -E '^(==> |ok |not ok |test |     |.*\.\.\. )' "$LOG" | grep -vE '^ok [0-9]+ ' | tail -n 60 || true
say "PostgreSQL $MAJOR ($SUITE chroot): $(($(date +%s) - started)) s"
tail -1 "$LOG"
exit $rc
