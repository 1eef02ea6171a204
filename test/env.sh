# test/env.sh: shared set-up of the demo, test and bench commands.
#
# Sourced, not run.  On a fresh Debian 12 or 13 machine, as root, it installs
# what is missing (apt-get), builds and installs the extension and the loader,
# and starts a throwaway cluster inside the project folder (.run/), owned by
# the postgres user (initdb and the server refuse root).  Afterwards PGHOST,
# PGPORT and PGUSER point at that cluster.
# The PostgreSQL major: that of PG_CONFIG when set; else IDENFY_PG_MAJOR;
# else the newest server installed (/usr/lib/postgresql/N/bin/postgres);
# else, as root, the one Debian's "postgresql" package depends on (15 on
# Debian 12, 17 on Debian 13), installed.
# IDENFY_RUN_NAME (default .run) and IDENFY_TEST_PORT (default 54329) let
# two clusters live side by side (the benchmarks use .run-bench, 54339).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${IDENFY_TEST_PORT:-54329}

say() { printf '==> %s\n' "$*" >&2; }

# pg_major: the major to build and test against (see the header)
pg_major() {
	local m
	if [ -n "${PG_CONFIG:-}" ]; then
		"$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'
	elif [ -n "${IDENFY_PG_MAJOR:-}" ]; then
		echo "$IDENFY_PG_MAJOR"
	elif m=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed -E 's|.*/postgresql/([0-9]+)/.*|\1|' | sort -n | tail -1) && [ -n "$m" ]; then
		echo "$m"
	elif [ "$(id -u)" = 0 ]; then
		[ -n "$(apt-cache policy postgresql 2>/dev/null | grep 'Candidate: [0-9]')" ] ||
			DEBIAN_FRONTEND=noninteractive apt-get update -qq
		apt-cache depends postgresql 2>/dev/null | sed -nE 's/^ *Depends: postgresql-([0-9]+)$/\1/p' | head -1
	fi
}
PGMAJOR=$(pg_major)
[ -n "$PGMAJOR" ] || { say "no PostgreSQL server found (set PG_CONFIG, or run as root to install one)"; exit 2; }
if [ -n "${PG_CONFIG:-}" ]; then
	PGBIN=$("$PG_CONFIG" --bindir)
else
	PGBIN=/usr/lib/postgresql/$PGMAJOR/bin
fi
PACKAGES="postgresql-$PGMAJOR postgresql-server-dev-$PGMAJOR libjson-c-dev libpq-dev pkg-config
          make gcc libipc-run-perl python3 python3-psycopg sqlsmith time python3-flask python3-psycopg-pool curl openssl nodejs $(command -v npm >/dev/null || echo npm)"
export PGMAJOR PGBIN

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/bash -c "$*"
	else
		bash -c "$*"
	fi
}

install_packages() {
	local missing=""
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		say "installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		# do not let the package start Debian's own cluster on port 5432
		apt-get install -y -qq $missing >/dev/null
	fi
	# Debian's postgresql-common creates and starts a "main" cluster on
	# install; it is not ours and not needed.
	if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q ' online'; then
		pg_ctlcluster $PGMAJOR main stop 2>/dev/null || true
	fi
}

# build_install: make and make install; with IDENFY_CLEAN_BUILD=1 a make
# clean first, so that BUILD_WARNINGS counts every file's warnings.
build_install() {
	say "building and installing idenfy (PostgreSQL $PGMAJOR, $PGBIN)"
	BUILD_LOG=$(mktemp /tmp/idenfy-build.XXXXXX)
	[ -z "${IDENFY_CLEAN_BUILD:-}" ] || make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config clean >/dev/null
	make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config 2>"$BUILD_LOG" >/dev/null || { cat "$BUILD_LOG" >&2; exit 1; }
	cat "$BUILD_LOG" >&2
	BUILD_WARNINGS=$(grep -c 'warning:' "$BUILD_LOG" || true)
	make -C "$ROOT" -s PG_CONFIG=$PGBIN/pg_config install >/dev/null
}

# Where the cluster lives: .run/ in the project, when the postgres user
# can reach the project folder; else a folder under /tmp.
choose_run_dir() {
	local name=${IDENFY_RUN_NAME:-.run}
	if as_postgres "test -r '$ROOT/sql' && test -x '$ROOT'"; then
		RUN="$ROOT/$name"
		TREE="$ROOT"
	else
		RUN="/tmp/idenfy$name-$(echo "$ROOT" | md5sum | cut -c1-8)"
		TREE="$RUN/tree"
	fi
	mkdir -p "$RUN"
	chown postgres "$RUN" 2>/dev/null || true
	if [ "$TREE" != "$ROOT" ]; then
		rm -rf "$TREE"
		mkdir -p "$TREE"
		cp -r "$ROOT/sql" "$ROOT/expected" "$ROOT/test" "$ROOT/bench" "$ROOT/examples" "$ROOT/idenfy.control" "$TREE/"
		chown -R postgres "$TREE" 2>/dev/null || true
	fi
	export RUN TREE
}

start_cluster() {
	choose_run_dir
	if [ ! -f "$RUN/data/PG_VERSION" ]; then
		say "creating a throwaway cluster in $RUN/data"
		as_postgres "$PGBIN/initdb -D '$RUN/data' -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >'$RUN/initdb.log' 2>&1"
		cat >>"$RUN/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $PORT
unix_socket_directories = '$RUN'
logging_collector = off
log_min_messages = warning
max_connections = 60
CONF
	fi
	if ! as_postgres "$PGBIN/pg_ctl -D '$RUN/data' status" >/dev/null 2>&1; then
		say "starting PostgreSQL on $RUN (port $PORT)"
		as_postgres "$PGBIN/pg_ctl -D '$RUN/data' -l '$RUN/server.log' -w start" >/dev/null
	fi
	export PGHOST="$RUN" PGPORT="$PORT" PGUSER=postgres
	export PATH="$PGBIN:$PATH"
}

stop_cluster() {
	[ -n "${RUN:-}" ] || choose_run_dir
	as_postgres "$PGBIN/pg_ctl -D '$RUN/data' -m fast -w stop" >/dev/null 2>&1 || true
}

setup_all() {
	if [ "$(id -u)" = 0 ]; then
		install_packages
		build_install
	fi
	start_cluster
}
