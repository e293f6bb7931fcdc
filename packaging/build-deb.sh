#!/usr/bin/env bash
# Build the Debian package from a clean copy of the tree and check it with lintian.
#
#   packaging/build-deb.sh [options] [OUTDIR]      (OUTDIR defaults to build-deb/)
#
#   --worktree       package the working tree (tracked and untracked files, not ignored ones)
#                    instead of the last commit
#   --nocheck        skip the unit tests during the build (DEB_BUILD_OPTIONS=nocheck)
#   --install-deps   apt-get install the missing build dependencies first (needs root)
#   --no-lintian     do not run lintian
#
# dpkg-buildpackage wants debian/ at the top of the source tree; the project keeps it in
# packaging/debian so that the tree stays distribution-neutral. This script copies the tree
# (git archive HEAD, or the working tree) into a temporary directory, puts packaging/debian
# there as debian/, runs `dpkg-buildpackage -us -uc -b`, and leaves the .deb, .buildinfo,
# .changes and lintian.txt in OUTDIR. Exit status: 0 built and lintian found no error, 1 the
# build failed or lintian found errors, 2 bad usage or missing tools.
set -euo pipefail

usage() {
	sed -n '2,/^set -e/{/^#/s/^# \{0,1\}//p}' "$0" >&2
	exit 2
}

from=head
nocheck=0
install_deps=0
lintian=1
outdir=
while [ $# -gt 0 ]; do
	case $1 in
	--worktree) from=worktree ;;
	--nocheck) nocheck=1 ;;
	--install-deps) install_deps=1 ;;
	--no-lintian) lintian=0 ;;
	-h | --help) usage ;;
	-*) echo "build-deb.sh: unknown option $1" >&2; usage ;;
	*) [ -z "$outdir" ] || usage; outdir=$1 ;;
	esac
	shift
done

top=$(cd "$(dirname "$0")/.." && pwd)
outdir=${outdir:-$top/build-deb}
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

for tool in git dpkg-buildpackage dpkg-checkbuilddeps dpkg-parsechangelog fakeroot; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-deb.sh: $tool is missing: apt-get install git dpkg-dev fakeroot debhelper" >&2
		exit 2
	fi
done
if [ "$lintian" = 1 ] && ! command -v lintian >/dev/null; then
	echo "build-deb.sh: lintian is missing: apt-get install lintian (or --no-lintian)" >&2
	exit 2
fi

start=$(date +%s)
work=$(mktemp -d "${TMPDIR:-/tmp}/quiesce-agent-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT

# the version comes from meson.build; debian/changelog must agree
version=$(sed -n "s/^  version: '\([^']*\)',$/\1/p" "$top/meson.build" | head -n1)
src=$work/quiesce-agent-$version
mkdir -p "$src"
if [ "$from" = head ]; then
	git -C "$top" archive --format=tar HEAD | tar -x -C "$src"
	echo "==> packaging commit $(git -C "$top" rev-parse --short HEAD)"
else
	git -C "$top" ls-files -z --cached --others --exclude-standard |
		(cd "$top" && xargs -0 -r tar -c --no-recursion -f -) | tar -x -C "$src"
	echo "==> packaging the working tree of $top"
fi
rm -rf "$src/debian"
cp -a "$src/packaging/debian" "$src/debian"

deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "${deb_version%%-*}" != "$version" ]; then
	echo "build-deb.sh: packaging/debian/changelog says $deb_version, meson.build says $version:" \
		"add a changelog entry (dch -v $version)" >&2
	exit 1
fi

if ! missing=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
	deps=$(printf '%s\n' "$missing" | sed -n 's/.*Unmet build dependencies: //p')
	if [ "$install_deps" = 0 ]; then
		echo "build-deb.sh: missing build dependencies: $deps" >&2
		echo "  apt-get install them, or run again with --install-deps" >&2
		exit 2
	fi
	# of each "a | b" alternative, the first one apt knows
	pkgs=()
	read -r -a groups <<<"$(printf '%s' "$deps" | sed 's/ *([^)]*)//g; s/ *<[^>]*>//g; s/ | /|/g')"
	for group in "${groups[@]}"; do
		IFS='|' read -r -a alts <<<"$group"
		for alt in "${alts[@]}"; do
			name=${alt%:any}
			if apt-cache show "$name" >/dev/null 2>&1; then
				pkgs+=("$name")
				break
			fi
		done
	done
	echo "==> installing build dependencies: ${pkgs[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"
fi

opts=${DEB_BUILD_OPTIONS:-}
[ "$nocheck" = 0 ] || opts="$opts nocheck"
echo "==> dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS='${opts# }')"
if ! (cd "$src" && DEB_BUILD_OPTIONS="${opts# }" dpkg-buildpackage -us -uc -b) \
	>"$outdir/build.log" 2>&1; then
	tail -n 40 "$outdir/build.log" >&2
	echo "build-deb.sh: dpkg-buildpackage failed; the whole log is $outdir/build.log" >&2
	exit 1
fi
built=$(date +%s)

shopt -s nullglob
artifacts=("$work"/*.deb "$work"/*.ddeb "$work"/*.buildinfo "$work"/*.changes)
mv -f "${artifacts[@]}" "$outdir/"
changes=$(ls "$outdir"/quiesce-agent_"$deb_version"_*.changes)
echo "==> built in $((built - start)) s:"
(cd "$outdir" && ls -1 ./*.deb)

status=0
if [ "$lintian" = 1 ]; then
	echo "==> lintian"
	lintian --info --display-info --fail-on error "$changes" >"$outdir/lintian.txt" 2>&1 ||
		status=1
	if [ -s "$outdir/lintian.txt" ]; then cat "$outdir/lintian.txt"; else echo "(no tags)"; fi
	[ "$status" = 0 ] || echo "build-deb.sh: lintian found errors" >&2
fi
echo "==> done in $(($(date +%s) - start)) s"
exit "$status"
