#!/usr/bin/env bash
# Puts the Debian 12 packages hearth builds against into .deps/root (unpacked with dpkg -x, pruned
# to what the build reads), for a machine that has a compiler, CMake and the CUDA toolkit but none
# of these development packages and no network. Run here (Debian 12, apt reachable), carry .deps
# along, and configure there with -DHEARTH_DEPS=$PWD/.deps/root (README, Dependencies).
# Idempotent: a second run with the same package list only prints the size; --force refetches.
#
# What .deps/root holds:
#   headers + CMake configs  nlohmann-json3-dev, libcli11-dev, libgtest-dev, libgmock-dev
#   headers + shared library libpcre2-dev + libpcre2-8-0, libcpp-httplib-dev + libcpp-httplib0.11
#   static libraries         libgtest.a, libgtest_main.a, libgmock.a, libgmock_main.a (Debian
#                            ships no shared GoogleTest)
#   headers only             libssl-dev, zlib1g-dev, libbrotli-dev: httplib.h includes them, since
#                            Debian's libcpp-httplib is built with CPPHTTPLIB_OPENSSL/ZLIB/BROTLI_SUPPORT
#                            and OPENSSL_SUPPORT changes the layout of httplib::Request and Client
#   runtime library          libbrotli1, which libcpp-httplib.so needs and a Python image may lack
# Assumed present on the target: glibc >= 2.34, libstdc++ from GCC >= 12, libssl.so.3 and
# libcrypto.so.3 (OpenSSL 3), libz.so.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DEPS=.deps
ROOT=$DEPS/root
PKGS=(nlohmann-json3-dev libcli11-dev libpcre2-dev libpcre2-8-0 libcpp-httplib-dev
  libcpp-httplib0.11 libbrotli1 libgtest-dev libgmock-dev libssl-dev zlib1g-dev libbrotli-dev)
STAMP=$ROOT/.packages

size() {
  local b
  b=$(du -sb "$ROOT" | cut -f1)
  echo "fetch-build-deps: $ROOT holds $b bytes ($((b / 1024)) KiB) in $(find "$ROOT" | wc -l) entries"
}

if [[ "${1:-}" != --force && -f "$STAMP" ]] && [[ "$(cut -d= -f1 "$STAMP")" == "$(printf '%s\n' "${PKGS[@]}" | sort)" ]]; then
  echo "fetch-build-deps: up to date ($STAMP)"
  size
  exit 0
fi

command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
  echo "fetch-build-deps: needs apt-get and dpkg (run it on Debian 12)" >&2
  exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs"
chmod 755 "$tmp" && chmod 777 "$tmp/debs"  # apt-get download drops to the _apt user where it can
download() { (cd "$tmp/debs" && apt-get download -q "${PKGS[@]}"); }
if ! download; then
  echo "fetch-build-deps: download failed; apt-get update and retry"
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  download
fi

new=$tmp/root
for deb in "$tmp"/debs/*.deb; do dpkg -x "$deb" "$new"; done
for deb in "$tmp"/debs/*.deb; do dpkg-deb -W --showformat='${Package}=${Version}\n' "$deb"; done |
  sort >"$tmp/versions"

# Prune what the build does not read.
lib=$new/usr/lib/x86_64-linux-gnu
rm -rf "$new"/usr/share/{doc,man,lintian,pkgconfig} "$new"/usr/src "$new"/usr/bin "$lib"/pkgconfig
rm -f "$lib"/libpcre2-{16,32,posix}* "$lib"/libpcre2-8.a "$new"/usr/include/pcre2posix.h
# libssl-dev, zlib1g-dev, libbrotli-dev: headers only (their .so links point at the system's runtime).
rm -f "$lib"/lib{ssl,crypto,z,brotlienc,brotlidec,brotlicommon}.{a,so}
# OpenSSL: only the headers httplib.h reaches (about 1.3 of 2 MB).
if command -v g++ >/dev/null; then
  printf '#include <openssl/%s.h>\n' err evp ssl x509v3 >"$tmp/ssl.cpp"
  g++ -std=c++20 -M -I"$new/usr/include" -I"$new/usr/include/x86_64-linux-gnu" "$tmp/ssl.cpp" |
    tr ' \\' '\n\n' | grep -o 'openssl/[^/]*\.h$' | sort -u >"$tmp/ssl-used"
  for h in "$new"/usr/include/openssl/*.h; do
    grep -qx "openssl/$(basename "$h")" "$tmp/ssl-used" || rm -f "$h"
  done
fi
find "$new" -xtype l -delete  # links into what was pruned
find "$new" -type d -empty -delete

# The same imported-target files the CMake configs check for must be there.
for f in libgtest.a libgtest_main.a libgmock.a libgmock_main.a libpcre2-8.so libcpp-httplib.so \
  libbrotlienc.so.1 libbrotlidec.so.1 libbrotlicommon.so.1; do
  [[ -e "$lib/$f" ]] || { echo "fetch-build-deps: $lib/$f missing after pruning" >&2; exit 1; }
done
for f in httplib.h pcre2.h openssl/ssl.h x86_64-linux-gnu/openssl/configuration.h zlib.h \
  brotli/decode.h nlohmann/json.hpp CLI/CLI.hpp gtest/gtest.h gmock/gmock.h; do
  [[ -e "$new/usr/include/$f" ]] || { echo "fetch-build-deps: usr/include/$f missing" >&2; exit 1; }
done

mv "$tmp/versions" "$new/.packages"
mkdir -p "$DEPS"
rm -rf "$ROOT"
mv "$new" "$ROOT"
echo "fetch-build-deps: unpacked $(wc -l <"$STAMP") packages:"
sed 's/^/  /' "$STAMP"
size
