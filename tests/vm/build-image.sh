#!/bin/bash
# Build (or reuse) the Debian 12 guest image for the VM test bed.
#
# Usage: tests/vm/build-image.sh [--force] [--print-key]
#   Prints the image directory (vmlinuz, initrd.img, root.raw, build.log) as the last line of stdout;
#   progress goes to stderr.
#
# The image is built only from Debian packages through apt's configured sources, with no
# loop mounts on the host: debootstrap into a directory, then `mkfs.ext4 -d` turns that directory
# into a filesystem image. The root disk has no partition table (root=/dev/vda); the kernel and
# initrd are copied out and given to QEMU with -kernel/-initrd.
#
# Cache: ${QA_VM_CACHE:-$HOME/.cache/quiesce-agent/vm}/<key>/, where <key> hashes this script and
# everything under tests/vm/image/; a change to either rebuilds, nothing else does.
#
# All mounts made while building (debootstrap's /proc and /sys, ours for the chroot) happen inside
# a private mount namespace, so they vanish with the process even when it is killed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE_FILES=$HERE/image
CACHE=${QA_VM_CACHE:-$HOME/.cache/quiesce-agent/vm}
SUITE=bookworm
HOSTNAME_GUEST=qa-guest

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

image_key() {
	# Hash the script and the files baked into the image (names and contents), in a fixed order.
	(
		cd "$HERE"
		sha256sum build-image.sh
		find image -type f | LC_ALL=C sort | xargs sha256sum
	) | sha256sum | cut -c1-16
}

# Host tools, installed idempotently: CI starts from a fresh Debian 12 machine.
ensure_host_tools() {
	local missing=() cmd pkg
	for pair in debootstrap:debootstrap mkfs.ext4:e2fsprogs unshare:util-linux \
		sha256sum:coreutils flock:util-linux; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing host tools: ${missing[*]}"
		apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			"${missing[@]}" >&2
	fi
}

# Debian's sources as apt on this host knows them ("URI SUITE COMPONENT" per line). Only
# bookworm, bookworm-updates and bookworm-security are taken, so the guest is plain Debian 12.
apt_sources() {
	apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
		'Identifier: Packages' 2>/dev/null |
		awk -v s="$SUITE" '$2 == s || $2 == s "-updates" || $2 == s "-security"' |
		LC_ALL=C sort -u
}

packages() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' "$IMAGE_FILES/packages.txt" | grep -v '^$'
}

# ---------------------------------------------------------------------------------------------
# Everything below runs inside the private mount namespace (see the bottom of the file).
# ---------------------------------------------------------------------------------------------

in_chroot() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

bootstrap() {
	local mirror=$1
	log "debootstrap --variant=minbase $SUITE from $mirror"
	debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >>"$BUILD_LOG" 2>&1 ||
		{ tail -n 30 "$BUILD_LOG" >&2; die "debootstrap failed (log: $BUILD_LOG)"; }
}

install_packages() {
	# The same sources as the host (so security and point-release updates are included).
	apt_sources | awk '{ print "deb " $1 " " $2 " " $3 }' >"$ROOT/etc/apt/sources.list"
	# The host's Debian mirror may be a dated snapshot whose Release files are past their
	# Valid-Until; the host's apt accepts that, so the build must too.
	local apt_opts=(-o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false
		-o APT::Install-Recommends=false -o Dpkg::Use-Pty=0 -q)
	# Nothing may start services inside the chroot.
	printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
	chmod 755 "$ROOT/usr/sbin/policy-rc.d"
	mount -t proc proc "$ROOT/proc"
	mount -t sysfs sysfs "$ROOT/sys"
	mount --bind /dev "$ROOT/dev"
	# The kernel's postinst builds the initrd; say what goes into it before the install.
	mkdir -p "$ROOT/etc/initramfs-tools/conf.d" "$ROOT/etc/default"
	cat >"$ROOT/etc/initramfs-tools/conf.d/qa-test-bed.conf" <<-'EOF'
		# Every storage driver (virtio_blk, virtio_pci, virtio_scsi, nvme, ahci, ...): Debian's default.
		MODULES=most
	EOF
	# Root is not on MD, so the initramfs need not assemble arrays (and does not wait for them).
	echo "INITRDSTART='none'" >"$ROOT/etc/default/mdadm"
	log "apt-get install $(packages | tr '\n' ' ')"
	{
		in_chroot apt-get "${apt_opts[@]}" update &&
			in_chroot apt-get "${apt_opts[@]}" -y dist-upgrade &&
			in_chroot apt-get "${apt_opts[@]}" -y install $(packages) &&
			in_chroot apt-get clean
	} >>"$BUILD_LOG" 2>&1 || { tail -n 30 "$BUILD_LOG" >&2; die "apt-get failed (log: $BUILD_LOG)"; }
}

configure_guest() {
	log "configuring the guest"
	echo "$HOSTNAME_GUEST" >"$ROOT/etc/hostname"
	echo 'LANG=C.UTF-8' >"$ROOT/etc/default/locale"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$HOSTNAME_GUEST" >"$ROOT/etc/hosts"
	printf '/dev/vda\t/\text4\trw,errors=remount-ro\t0\t1\n' >"$ROOT/etc/fstab"
	# A throwaway test guest on a private socket: passwordless root and autologin on the console.
	in_chroot passwd -d root >/dev/null
	mkdir -p "$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d"
	cat >"$ROOT/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<-'EOF'
		[Service]
		ExecStart=
		ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
	EOF
	# Journal in /run: tests freeze the root filesystem, and a journald blocked on it would
	# stall every service that logs (the agent included).
	mkdir -p "$ROOT/etc/systemd/journald.conf.d"
	printf '[Journal]\nStorage=volatile\nForwardToConsole=no\n' \
		>"$ROOT/etc/systemd/journald.conf.d/qa-test-bed.conf"
	# mdadm: a mail address silences the monitor's complaint; no arrays are defined here.
	mkdir -p "$ROOT/etc/mdadm"
	printf 'HOMEHOST <system>\nMAILADDR root\n' >"$ROOT/etc/mdadm/mdadm.conf"
	# Fast, quiet boot under TCG: no timers, no network waits, no periodic jobs. The pseudo
	# filesystems systemd mounts in parallel (debugfs, tracefs, mqueue, ...) are masked too: their
	# mount IDs came out in a different order on every boot, and tests/fixtures captures of this
	# guest must be reproducible (the host fixture already covers such mounts).
	local unit
	for unit in apt-daily.timer apt-daily-upgrade.timer apt-daily.service \
		apt-daily-upgrade.service dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
		fstrim.timer man-db.timer systemd-timesyncd.service mdmonitor.service \
		mdmonitor-oneshot.timer mdcheck_start.timer mdcheck_continue.timer lvm2-monitor.service \
		systemd-networkd-wait-online.service getty@tty1.service \
		qemu-guest-agent.service \
		sys-kernel-debug.mount sys-kernel-tracing.mount dev-mqueue.mount dev-hugepages.mount \
		sys-kernel-config.mount sys-fs-fuse-connections.mount \
		proc-sys-fs-binfmt_misc.automount; do
		# Offline masking: systemctl works without a running systemd in a chroot.
		ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
	done
	install -m 0755 "$IMAGE_FILES/qa-test-runner" "$ROOT/usr/local/sbin/qa-test-runner"
	install -m 0644 "$IMAGE_FILES/qa-test-runner.service" \
		"$ROOT/etc/systemd/system/qa-test-runner.service"
	install -m 0644 "$IMAGE_FILES/qa-storage-order.conf" "$ROOT/etc/modprobe.d/qa-storage-order.conf"
	install -m 0644 "$IMAGE_FILES/qa-storage-modules.service" \
		"$ROOT/etc/systemd/system/qa-storage-modules.service"
	in_chroot systemctl enable qa-test-runner.service qa-storage-modules.service >>"$BUILD_LOG" 2>&1
	in_chroot systemctl set-default multi-user.target >>"$BUILD_LOG" 2>&1
	# Rebuild the initrd with the final configuration (mdadm.conf is copied into it).
	in_chroot update-initramfs -u -k all >>"$BUILD_LOG" 2>&1
	rm -f "$ROOT/usr/sbin/policy-rc.d"
	rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*.log
	: >"$ROOT/etc/machine-id" # systemd generates one at first boot
}

check_initrd() {
	local initrd=$1 mod missing=()
	local listing
	listing=$(in_chroot lsinitramfs "${initrd#"$ROOT"}")
	for mod in virtio_blk virtio_pci virtio_scsi nvme ahci ext4; do
		grep -q "/$mod\.ko" <<<"$listing" || missing+=("$mod")
	done
	[ ${#missing[@]} -eq 0 ] || die "initrd lacks modules: ${missing[*]}"
}

make_image() {
	local out=$1 kver
	kver=$(find "$ROOT/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -n1)
	[ -n "$kver" ] || die "no kernel installed in $ROOT/boot"
	check_initrd "$ROOT/boot/initrd.img-$kver"
	cp "$ROOT/boot/vmlinuz-$kver" "$out/vmlinuz"
	cp "$ROOT/boot/initrd.img-$kver" "$out/initrd.img"
	umount -R "$ROOT/proc" "$ROOT/sys" "$ROOT/dev"
	# Size: what is there plus room for the agent, logs and test files (the guest writes to a
	# qcow2 overlay, so the cached image itself stays untouched and sparse).
	local used_mb size_mb
	used_mb=$(du -sxm "$ROOT" | cut -f1)
	size_mb=$((used_mb + used_mb / 2 + 512))
	log "mkfs.ext4 -d (root tree ${used_mb} MiB, image ${size_mb} MiB)"
	rm -f "$out/root.raw"
	truncate -s "${size_mb}M" "$out/root.raw"
	mkfs.ext4 -q -F -L qa-root -E root_owner=0:0 -d "$ROOT" "$out/root.raw" >>"$BUILD_LOG" 2>&1
	{
		echo "kernel=$kver"
		echo "built=$(date -u +%FT%TZ)"
		echo "sources:"
		apt_sources | sed 's/^/  /'
		echo "packages:"
		in_chroot dpkg-query -W -f '  ${Package} ${Version}\n'
	} >"$out/manifest.txt"
}

build_in_namespace() {
	local dest=$1 key=$2 start
	# global: the EXIT trap runs after this function has returned
	start=$(date +%s)
	work=$(mktemp -d "$CACHE/.build-$key.XXXXXX")
	ROOT=$work/root
	BUILD_LOG=$work/build.log
	# On any exit: unmount what is ours, then delete without crossing into another filesystem
	# (so a bind mount that is somehow still there is never recursed into).
	trap 'umount -R "$ROOT/proc" "$ROOT/sys" "$ROOT/dev" 2>/dev/null || true;
	      rm -rf --one-file-system "$work"' EXIT
	mkdir -p "$ROOT" "$work/out"
	local mirror
	mirror=$(apt_sources | awk -v s="$SUITE" '$2 == s { print $1; exit }')
	[ -n "$mirror" ] || die "apt has no source for $SUITE (run apt-get update; see /etc/apt/sources.list.d)"
	bootstrap "$mirror"
	install_packages
	configure_guest
	make_image "$work/out"
	local secs=$(($(date +%s) - start))
	echo "build_seconds=$secs" >>"$work/out/manifest.txt"
	cp "$BUILD_LOG" "$work/out/build.log"
	# Publish atomically: a reader sees either no image or a complete one.
	rm -rf "$dest"
	mv "$work/out" "$dest"
	log "built $dest in ${secs}s"
}

main() {
	local force=0
	case "${1:-}" in
	--print-key) image_key; exit 0 ;;
	--force) force=1 ;;
	"") ;;
	*) die "usage: $0 [--force|--print-key]" ;;
	esac
	[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
	local key dest
	key=$(image_key)
	dest=$CACHE/debian12-$key
	mkdir -p "$CACHE"
	# One builder at a time per cache; others wait and then reuse its result.
	exec 9>"$CACHE/.lock"
	flock 9
	if [ $force -eq 0 ] && [ -s "$dest/root.raw" ] && [ -s "$dest/vmlinuz" ] && [ -s "$dest/initrd.img" ]; then
		log "cached image $dest"
	else
		ensure_host_tools
		# indextargets only knows sources whose lists were downloaded.
		[ -n "$(apt_sources)" ] || apt-get update -q >&2
		log "building image $key (takes several minutes)"
		# Private mount namespace: every mount made by the build dies with it.
		unshare --mount --propagation private --fork --kill-child \
			env QA_BUILD_IN_NS=1 bash "$HERE/build-image.sh" --in-namespace "$dest" "$key"
		# Keep the three newest images (other branches may use older ones); drop the rest.
		find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name 'debian12-*' -printf '%T@ %p\n' |
			sort -rn | sed 1,3d | cut -d' ' -f2- | while read -r old; do
			log "removing old image $old"
			rm -rf --one-file-system "$old"
		done
	fi
	echo "$dest"
}

if [ "${1:-}" = --in-namespace ]; then
	[ "${QA_BUILD_IN_NS:-}" = 1 ] || die "--in-namespace is internal"
	build_in_namespace "$2" "$3"
else
	main "$@"
fi
