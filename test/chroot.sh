# test/chroot.sh: Debian chroots for other PostgreSQL majors (test/matrix.sh).
#
# Sourced, not run; as root.  chroot_for MAJOR sets SUITE (the Debian suite
# whose postgresql-MAJOR is tested: 15 bookworm, 17 trixie, 18 sid;
# IDENFY_SUITE overrides) and CHROOT, the folder of a minimal Debian of that
# suite made by debootstrap from the host's own mirror (the URIs of
# /etc/apt/sources.list.d/, else deb.debian.org) and cached in
# .cache/chroot/SUITE of the project (IDENFY_CHROOT_CACHE overrides), so a
# second run reuses it.  chroot_enter mounts /proc and a /dev/shm of its own
# (PostgreSQL's dynamic shared memory) and chroot_leave unmounts them;
# chroot_run runs a command inside as root with a clean environment.
# Services never start inside (policy-rc.d): Debian's own cluster of the
# package is created but not started.

chroot_suite() {
	case "$1" in
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo sid ;;
	*) return 1 ;;
	esac
}

chroot_mirror() {
	local uri
	uri=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
		grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -1 | tr -d ' ')
	echo "${uri:-http://deb.debian.org/debian}"
}

chroot_for() {
	local major=$1 cache mirror start
	SUITE=${IDENFY_SUITE:-$(chroot_suite "$major")} || {
		say "no Debian suite known to offer PostgreSQL $major (15: bookworm, 17: trixie, 18: sid); set IDENFY_SUITE"
		return 2
	}
	cache=${IDENFY_CHROOT_CACHE:-$ROOT/.cache/chroot}
	CHROOT=$cache/$SUITE
	if [ ! -f "$CHROOT/.idenfy-ready" ]; then
		command -v debootstrap >/dev/null || {
			say "installing debootstrap"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
		}
		mirror=$(chroot_mirror)
		say "debootstrap $SUITE from $mirror into $CHROOT (once; cached)"
		start=$(date +%s)
		rm -rf "$CHROOT.tmp"
		mkdir -p "$cache"
		nice -n 10 debootstrap --variant=minbase "$SUITE" "$CHROOT.tmp" "$mirror" >"$cache/debootstrap-$SUITE.log" 2>&1 || {
			tail -20 "$cache/debootstrap-$SUITE.log"
			return 1
		}
		printf '#!/bin/sh\nexit 101\n' >"$CHROOT.tmp/usr/sbin/policy-rc.d"
		chmod 755 "$CHROOT.tmp/usr/sbin/policy-rc.d"
		printf 'APT::Install-Recommends "false";\nAcquire::Check-Valid-Until "false";\n' >"$CHROOT.tmp/etc/apt/apt.conf.d/90idenfy"
		rm -rf "$CHROOT"
		mv "$CHROOT.tmp" "$CHROOT"
		touch "$CHROOT/.idenfy-ready"
		say "chroot $SUITE made in $(($(date +%s) - start)) s"
	fi
	cp /etc/resolv.conf "$CHROOT/etc/resolv.conf" 2>/dev/null || true
	export SUITE CHROOT
}

# chroot_enter, chroot_leave: the mounts are shared by every command using
# the chroot at once (test/matrix.sh and test/citus/run.sh may overlap):
# counted in CHROOT.users under a lock, unmounted by the last one out.
chroot_enter() {
	(
		flock 9
		users=$(cat "$CHROOT.users" 2>/dev/null || echo 0)
		mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"
		mkdir -p "$CHROOT/dev/shm" "$CHROOT/dev/pts"
		mountpoint -q "$CHROOT/dev/shm" || mount -t tmpfs -o mode=1777 shm "$CHROOT/dev/shm"
		# terminals (idenfy-load's password prompt tests)
		mountpoint -q "$CHROOT/dev/pts" || mount --bind /dev/pts "$CHROOT/dev/pts"
		echo $((users + 1)) >"$CHROOT.users"
	) 9>"$CHROOT.lock"
	CHROOT_ENTERED=1
}

chroot_leave() {
	[ -n "${CHROOT:-}" ] && [ -n "${CHROOT_ENTERED:-}" ] || return 0
	(
		flock 9
		users=$(($(cat "$CHROOT.users" 2>/dev/null || echo 1) - 1))
		if [ "$users" -le 0 ]; then
			users=0
			mountpoint -q "$CHROOT/dev/shm" && umount -l "$CHROOT/dev/shm"
			mountpoint -q "$CHROOT/dev/pts" && umount -l "$CHROOT/dev/pts"
			mountpoint -q "$CHROOT/proc" && umount -l "$CHROOT/proc"
		fi
		echo "$users" >"$CHROOT.users"
	) 9>"$CHROOT.lock"
	CHROOT_ENTERED=
	return 0
}

# chroot_run COMMAND...: as root inside, clean environment plus the VAR=value
# given first; the host's extra CA certificates (a TLS-inspecting egress, as
# on some CI machines: NODE_EXTRA_CA_CERTS, SSL_CERT_FILE) are copied in and
# passed on, so that npm and curl inside trust what the host trusts.
chroot_run() {
	local v f pass=()
	for v in NODE_EXTRA_CA_CERTS SSL_CERT_FILE; do
		f=${!v:-}
		[ -n "$f" ] && [ -f "$f" ] || continue
		mkdir -p "$CHROOT$(dirname "$f")"
		cp "$f" "$CHROOT$f.host" && mv "$CHROOT$f.host" "$CHROOT$f"
		pass+=("$v=$f")
	done
	chroot "$CHROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${pass[@]}" "$@"
}

# chroot_copy_tree DEST: the project's files (no builds, caches, clusters, .git) into the chroot's DEST
chroot_copy_tree() {
	local dest=$CHROOT$1
	rm -rf "$dest"
	mkdir -p "$dest"
	tar -C "$ROOT" --exclude=./.git --exclude=./.cache --exclude='./.run*' --exclude='*.o' \
		--exclude='*.so' --exclude='*.bc' --exclude=./src/load/idenfy-load --exclude=./results \
		--exclude=./output_iso -cf - . | tar -C "$dest" -xf -
}
