#!/usr/bin/env bash
# test/citus/run.sh: idenfy on a real Citus cluster.
#
#   bash test/citus/run.sh        # as root
#
# In the Debian 13 (trixie) chroot of test/chroot.sh, with its PostgreSQL 17:
# builds Citus from ../shared/vendor/citus/citus-*.tar.gz once (the build is
# cached in .cache/citus/ under the tarball's SHA-256; a new tarball builds
# again), builds and installs idenfy, then runs test/citus/cluster.sh inside:
# a coordinator and two workers on 127.0.0.1 (ports 54401-54403) and a single
# node (54404) given the same callbacks.  Last line "N passed, N failed".
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { printf '==> %s\n' "$*" >&2; }
source "$ROOT/test/chroot.sh"
MAJOR=17
TARBALL=${IDENFY_CITUS_TARBALL:-$(ls "$ROOT"/../shared/vendor/citus/citus-*.tar.gz 2>/dev/null | sort -V | tail -1)}
[ -f "$TARBALL" ] || { say "no Citus tarball in ../shared/vendor/citus/"; echo "0 passed, 1 failed"; exit 1; }
[ "$(id -u)" = 0 ] || { say "test/citus/run.sh runs as root (chroot)"; exit 2; }

started=$(date +%s)
chroot_for $MAJOR
trap chroot_leave EXIT
chroot_enter
chroot_copy_tree /build/idenfy-citus
LOG=$ROOT/.cache/citus.log

# Citus: built once per tarball, installed from the cache into the chroot
sha=$(sha256sum "$TARBALL" | cut -c1-16)
CACHE=$ROOT/.cache/citus
BUILT=$CACHE/citus-$sha-pg$MAJOR.tar
CITUS_DEPS="postgresql-$MAJOR postgresql-server-dev-$MAJOR liblz4-dev libzstd-dev libcurl4-openssl-dev
            libkrb5-dev libicu-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev zlib1g-dev
            make gcc"
chroot_run bash -c "missing=''; for p in $(echo $CITUS_DEPS); do dpkg -s \$p >/dev/null 2>&1 || missing=\"\$missing \$p\"; done
	[ -z \"\$missing\" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \$missing >/dev/null; }"
if [ ! -f "$BUILT" ]; then
	say "building Citus from $(basename "$TARBALL") (once; cached in $BUILT)"
	t0=$(date +%s)
	rm -rf "$CHROOT/build/citus-src" "$CHROOT/build/citus-inst"
	mkdir -p "$CHROOT/build/citus-src" "$CACHE"
	tar -xzf "$TARBALL" -C "$CHROOT/build/citus-src" --strip-components=1
	chroot_run bash -c "cd /build/citus-src &&
		./configure PG_CONFIG=/usr/lib/postgresql/$MAJOR/bin/pg_config >configure.out 2>&1 &&
		nice -n 10 make -j2 >make.out 2>&1 &&
		make install DESTDIR=/build/citus-inst >install.out 2>&1" || {
		tail -n 30 "$CHROOT"/build/citus-src/*.out
		echo "0 passed, 1 failed"
		exit 1
	}
	tar -C "$CHROOT/build/citus-inst" -cf "$BUILT.tmp" . && mv "$BUILT.tmp" "$BUILT"
	rm -rf "$CHROOT/build/citus-src" "$CHROOT/build/citus-inst"
	say "Citus built in $(($(date +%s) - t0)) s"
fi
tar -C "$CHROOT" -xf "$BUILT"
[ "${1:-}" != --build ] || exit 0

rc=0
chroot_run IDENFY_PG_MAJOR=$MAJOR ${IDENFY_CITUS_N:+IDENFY_CITUS_N=$IDENFY_CITUS_N} \
	bash /build/idenfy-citus/test/citus/cluster.sh >"$LOG" 2>&1 || rc=$?
grep -E '^(==> |ok |not ok |#)' "$LOG" || true
say "Citus suite: $(($(date +%s) - started)) s (log $LOG)"
tail -1 "$LOG"
exit $rc
