#!/usr/bin/env bash
# Checks, by hand, that the CUDA build configures and builds from .deps alone
# (scripts/fetch-build-deps.sh), as on a GPU machine without the Debian development packages.
# Run as root from the repository root: it enters a private mount namespace (unshare -m) and lays
# a tmpfs-backed overlay over /usr/include, /usr/lib/x86_64-linux-gnu, /usr/share, /usr/src and
# /usr/bin, in which it deletes every file of the installed development packages (dpkg -L:
# nlohmann-json3-dev, libcli11-dev, libpcre2-dev, libcpp-httplib-dev, libgtest-dev, libgmock-dev,
# googletest, libssl-dev, zlib1g-dev, libbrotli-dev), cpp-httplib's runtime library and pkg-config.
# Neither CMake nor the compiler nor the linker can see them; outside the namespace nothing changes.
# Then: a fresh configure with -DHEARTH_DEPS, a build of hearth and the unit tests, and ldd. For
# the runs, the system's runtime PCRE2 and Brotli libraries are deleted as well (not before:
# coreutils and CMake load them), so the binaries can only have them from .deps.
#   HEARTH_DEPS_BUILD  build directory (default build-deps-check, recreated)
#   extra arguments go to the CMake configure (e.g. -DHEARTH_WERROR=OFF)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${HEARTH_DEPS_BUILD:-build-deps-check}
ROOT=$PWD/.deps/root

if [[ -z "${HEARTH_CHECK_HIDDEN:-}" ]]; then
  [[ "$(id -u)" == 0 ]] || { echo "check-deps-build: run as root (mount namespace)" >&2; exit 1; }
  [[ -f "$ROOT/.packages" ]] || { echo "check-deps-build: no .deps: run scripts/fetch-build-deps.sh" >&2; exit 1; }
  scratch=$(mktemp -d)
  trap 'rmdir "$scratch"' EXIT
  status=0
  HEARTH_CHECK_HIDDEN=$scratch unshare -m --propagation private "$0" "$@" || status=$?
  exit $status
fi

t0=$(date +%s)
stamp() { echo "== [$(($(date +%s) - t0))s] $*"; }

# Inside the namespace: overlays whose deletions stay in a tmpfs of this namespace.
scratch=$HEARTH_CHECK_HIDDEN
mount -t tmpfs hearth-hide "$scratch"
n=0
for d in /usr/include /usr/lib/x86_64-linux-gnu /usr/share /usr/src /usr/bin; do
  n=$((n + 1))
  mkdir -p "$scratch/u$n" "$scratch/w$n"
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$scratch/u$n,workdir=$scratch/w$n" "$d"
done
hide() {  # delete the files (not directories) of those packages that are installed; prints how many
  # The list comes first and one rm deletes it: dpkg itself loads libpcre2-8, one of the last hidden.
  local files=() p f
  for p in "$@"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"ok installed" ]] || continue
    while IFS= read -r f; do
      if [[ -f "$f" || -L "$f" ]] && [[ ! -d "$f" ]]; then files+=("$f"); fi
    done < <(dpkg -L "$p")
  done
  if ((${#files[@]})); then rm -f "${files[@]}"; fi
  echo "${#files[@]}"
}
dev_pkgs=(nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev libcpp-httplib0.11
  libgtest-dev libgmock-dev googletest libssl-dev zlib1g-dev libbrotli-dev pkgconf pkgconf-bin pkg-config)
stamp "hidden: $(hide "${dev_pkgs[@]}") files of ${dev_pkgs[*]}"
for f in /usr/include/nlohmann /usr/include/CLI /usr/include/pcre2.h /usr/include/httplib.h \
  /usr/include/gtest /usr/include/gmock /usr/include/openssl/ssl.h /usr/include/zlib.h \
  /usr/include/brotli/decode.h /usr/lib/x86_64-linux-gnu/libpcre2-8.so \
  /usr/lib/x86_64-linux-gnu/libcpp-httplib.so.0.11 /usr/lib/x86_64-linux-gnu/libgtest.a \
  /usr/lib/x86_64-linux-gnu/cmake/GTest /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json; do
  if [[ -n "$(find "$f" \( -type f -o -type l \) -print -quit 2>/dev/null)" ]]; then
    echo "check-deps-build: $f is still visible" >&2
    exit 1
  fi
done
if command -v pkg-config >/dev/null; then echo "check-deps-build: pkg-config still visible" >&2; exit 1; fi
printf '#include <httplib.h>\n' | g++ -x c++ -fsyntax-only - 2>/dev/null &&
  { echo "check-deps-build: the compiler still finds httplib.h" >&2; exit 1; }
stamp "check: the system's headers, CMake configs, .so/.a files and pkg-config are gone"

stamp "configure $BUILD"
rm -rf "$BUILD"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHEARTH_DEPS="$ROOT" \
  -DHEARTH_CUDA=ON -DHEARTH_BUILD_BENCH=OFF "$@" >"$scratch/configure.log" 2>&1 || {
  cat "$scratch/configure.log"
  exit 1
}
grep -E 'HEARTH_DEPS|Found (nlohmann|GTest|CUDA)|CMake Warning|Generating done' "$scratch/configure.log"
grep -E '^(nlohmann_json_DIR|CLI11_DIR|GTest_DIR|HEARTH_[A-Z0-9_]*(LIBRARY|_DIR)):' "$BUILD/CMakeCache.txt"

# The CUDA backend's host and device tests: in hearth_cuda_tests where tests/CMakeLists.txt has it.
suites=(hearth_unit_tests)
if grep -q hearth_cuda_tests tests/CMakeLists.txt; then suites+=(hearth_cuda_tests); fi
stamp "build hearth ${suites[*]} (-j$(nproc))"
cmake --build "$BUILD" -j"$(nproc)" --target hearth "${suites[@]}" >"$BUILD/build.log" 2>&1 || {
  tail -40 "$BUILD/build.log"
  exit 1
}
tail -1 "$BUILD/build.log"

stamp "ldd, with the system's runtime PCRE2 and Brotli still there (their lines)"
ldd "$BUILD/hearth" "${suites[@]/#/$BUILD/tests/}" | grep -E ':$|pcre2|httplib|brotli'

stamp "hiding the system's runtime libraries too: $(hide libpcre2-8-0 libbrotli1) files of libpcre2-8-0 libbrotli1"
# From here on only bash builtins, ldd (a bash script) and the binaries run: ls, grep, sed and cmake
# need the libraries just hidden.
status=0
stamp "ldd"
libs=$(ldd "$BUILD/hearth" "${suites[@]/#/$BUILD/tests/}") || status=1
echo "$libs"
if [[ "$libs" == *"not found"* ]]; then echo "check-deps-build: a library is not found"; status=1; fi
stamp "hearth --help"
"$BUILD/hearth" --help || status=1
for suite in "${suites[@]}"; do
  stamp "$suite --gtest_filter='CudaHost*:Gguf*'"
  "$BUILD/tests/$suite" --gtest_filter='CudaHost*:Gguf*' --gtest_brief=1 || status=1
done
stamp "done (exit $status)"
exit $status
