#!/usr/bin/env bash
# Builds static GLib (with libffi, pcre2, zlib and proxy-libintl) for 64-bit
# Windows, once, into a cache outside the source tree keyed by the sources, the cross file and
# this script; later runs find the cache and return at once. Prints nothing but progress on
# stderr; with --print-cross-file prints the path of the cross file that points meson at it.
#
# Sources: ../shared/win32-deps beside the project (exports of the upstream repositories at the
# tags its README names; this is what CI uses, offline). Without that folder the GNOME release
# tarballs are downloaded and GLib's own wraps fetch its subprojects: that needs the internet and
# is never required when the folder is there.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
cross=$here/cross-x86_64-w64-mingw32.ini
glib_version=2.78.6
deps_src=${QA_WIN32_DEPS:-$top/../shared/win32-deps}

log() { printf '==> %s\n' "$*" >&2; }

if [ -d "$deps_src" ]; then
  mode=local
  key_input=$(cd "$deps_src" && sha256sum ./*.tar.xz)
else
  mode=upstream
  key_input="upstream glib-$glib_version"
fi
key=$( { echo "$key_input"; cat "$cross" "$0"; } | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/quiesce-agent/win32-deps-$key
prefix=$cache/prefix
deps_cross=$cache/deps.ini

if [ "${1:-}" = --print-cross-file ]; then
  [ -f "$cache/.complete" ] || "$0" >&2
  echo "$deps_cross"
  exit 0
fi
if [ -f "$cache/.complete" ]; then
  log "win32 dependencies are cached in $cache"
  exit 0
fi

start=$(date +%s)
work=$cache/work
rm -rf "$work" "$prefix"
mkdir -p "$work" "$prefix"
cat >"$deps_cross" <<INI
# written by win32/build-deps.sh: the static GLib for Windows
[properties]
pkg_config_libdir = ['$prefix/lib/pkgconfig']

[built-in options]
prefer_static = true
INI

unpack_local() {
  local sp=$work/glib-$glib_version/subprojects
  tar -C "$work" -xf "$deps_src/glib-$glib_version.tar.xz"
  rm -rf "$sp/gvdb" && tar -C "$sp" -xf "$deps_src"/gvdb-*.tar.xz
  tar -C "$sp" -xf "$deps_src"/libffi-*.tar.xz
  tar -C "$sp" -xf "$deps_src"/pcre2-*.tar.xz
  tar -C "$sp" -xf "$deps_src"/zlib-*.tar.xz
  tar -C "$sp" -xf "$deps_src"/proxy-libintl-*.tar.xz
  tar -C "$work" -xf "$deps_src/wrapdb-packagefiles.tar.xz"
  # the wrapdb meson files over the upstream sources; the wraps then name only the directory,
  # so meson never tries to download anything
  for p in libffi pcre2 zlib; do
    cp -r "$work/wrapdb-packagefiles/subprojects/packagefiles/$p/." "$sp/$p/"
  done
  sed -i "s/version: '1.3.2'/version: '1.3.1'/" "$sp/zlib/meson.build"
  printf '[wrap-file]\ndirectory = libffi\n\n[provide]\nlibffi = ffi_dep\n' >"$sp/libffi.wrap"
  printf '[wrap-file]\ndirectory = zlib\n\n[provide]\nzlib = zlib_dep\n' >"$sp/zlib.wrap"
  printf '[wrap-file]\ndirectory = pcre2\n\n[provide]\nlibpcre2-8 = libpcre2_8\n' >"$sp/pcre2.wrap"
  printf '[wrap-file]\ndirectory = proxy-libintl\n\n[provide]\nintl = intl_dep\n' \
    >"$sp/proxy-libintl.wrap"
  printf '[wrap-file]\ndirectory = gvdb\n\n[provide]\ndependency_names = gvdb\n' \
    >"$sp/gvdb.wrap"
  rm -f "$sp/sysprof.wrap" "$sp/gtk-doc.wrap"
}

unpack_upstream() {
  local gnome=https://download.gnome.org/sources
  curl -fsSL "$gnome/glib/${glib_version%.*}/glib-$glib_version.tar.xz" | tar -C "$work" -xJ
}

log "building static GLib $glib_version for Windows ($mode sources)"
"unpack_$mode"

common=(--cross-file "$cross" --cross-file "$deps_cross" --prefix "$prefix" --libdir lib
  --buildtype release -Ddefault_library=static --wrap-mode nodownload)
sub_opts=()
if [ "$mode" = upstream ]; then
  common[${#common[@]}-1]=default
else
  # libffi's tests are most of the build; the others are not needed either
  sub_opts=(-Dlibffi:tests=false -Dpcre2:test=false -Dzlib:tests=disabled)
fi
(
  cd "$work/glib-$glib_version"
  meson setup _build "${common[@]}" -Dtests=false -Dnls=disabled -Dman=false \
    -Dgtk_doc=false -Dsysprof=disabled "${sub_opts[@]}" >"$work/glib-setup.log" 2>&1 || { tail -40 "$work/glib-setup.log"; exit 1; }
  ninja -C _build install >"$work/glib-build.log" 2>&1 || { tail -40 "$work/glib-build.log"; exit 1; }
)
rm -rf "$work"
touch "$cache/.complete"
log "win32 dependencies built in $(( $(date +%s) - start )) s into $cache"
