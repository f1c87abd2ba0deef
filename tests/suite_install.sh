#!/usr/bin/env bash
# tests/suite_install.sh BUILD_DIR SOURCE_DIR — what `cmake --install` gives a user, checked
# from a fresh prefix: the files are all there; libmlgrt has its versioned SONAME and exports
# exactly the functions of mlg.h; the installed tools run (finding libmlgrt through their
# RUNPATH) and say their version; the embedding example (tools/embed_example.c) builds against
# the prefix with pkg-config and with a CMake project (find_package(mlg)), linked to the shared
# and to the static library, and runs a bundle the installed mlgc compiled; every option of
# the tools' --help is in their man pages.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-install.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }
# run NAME CMD...: runs CMD with its output in $TMP/NAME.log, shown when it fails.
run() {
  local name=$1
  shift
  if "$@" >"$TMP/$name.log" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name: $*"
    sed 's/^/    /' "$TMP/$name.log" | head -n 60
    return 1
  fi
}

P="$TMP/prefix"
if ! run install cmake --install "$BUILD" --prefix "$P"; then
  echo "$passed passed, $failed failed"
  exit 1
fi
libdir=$(cd "$P" && find . -name 'libmlgrt.so' -printf '%h\n' | head -n 1 | sed 's|^\./||')
version=$(sed -nE 's/^#define MLG_VERSION_(MAJOR|MINOR|PATCH) ([0-9]+)$/\2/p' "$SRC/runtime/include/mlg.h" |
          paste -sd.)
major=${version%%.*}
minor=$(cut -d. -f2 <<<"$version")
soname="libmlgrt.so.$major.$minor"
[ "$major" != 0 ] && soname="libmlgrt.so.$major"

for f in bin/mlgc bin/mlgrun include/mlg.h "$libdir/libmlgrt.so" "$libdir/$soname" \
         "$libdir/libmlgrt.so.$version" "$libdir/libmlgrt.a" "$libdir/libmlgspirv.so" "$libdir/pkgconfig/mlg.pc" \
         "$libdir/cmake/mlg/mlgConfig.cmake" "$libdir/cmake/mlg/mlgConfigVersion.cmake" \
         share/man/man1/mlgc.1 share/man/man1/mlgrun.1; do
  check test -e "$P/$f"
done
check test "$(readelf -d "$P/$libdir/libmlgrt.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" = "$soname"

# Exports: the MLG_API functions of mlg.h, nothing more, nothing less.
sed -nE 's/^MLG_API .*[ *]([a-z_0-9]+)\(.*/\1/p' "$SRC/runtime/include/mlg.h" | sort >"$TMP/api"
nm -D --defined-only "$P/$libdir/libmlgrt.so" | awk '$2 ~ /^[TDBRV]$/ {print $3}' |
  grep -vE '^(_init|_fini|_edata|_end|__bss_start)$' | sort >"$TMP/exports"
if ! check cmp -s "$TMP/api" "$TMP/exports"; then diff "$TMP/api" "$TMP/exports" | sed 's/^/    /'; fi

# The installed tools: found libmlgrt, say their version.
check grep -qx "mlgc $version" <(env -u LD_LIBRARY_PATH "$P/bin/mlgc" --version)
check grep -qx "mlgrun $version (libmlgrt $version)" <(env -u LD_LIBRARY_PATH "$P/bin/mlgrun" --version)
bundle="$TMP/mlp.mlgb"
run mlgc "$P/bin/mlgc" "$SRC/models/mlp.mlg" -D N=2 -o "$bundle"
# The installed runtime finds its SPIR-V validator (libmlgspirv.so) beside itself.
run mlgc-vulkan "$P/bin/mlgc" "$SRC/models/mlp.mlg" --target vulkan -o "$TMP/mlp_vk.mlgb" &&
  run mlgrun-vulkan env -u LD_LIBRARY_PATH MLG_CACHE_DIR= "$P/bin/mlgrun" "$TMP/mlp_vk.mlgb" --device vulkan:0 \
      --no-outputs --quiet

# Every option of each tool's --help is in its man page.
for tool in mlgc mlgrun; do
  man_text=$(sed 's/\\-/-/g' "$P/share/man/man1/$tool.1")
  # The options a --help line starts with (the text before its description column).
  for opt in $("$P/bin/$tool" --help | sed -nE 's/^ +(-.*)$/\1/p' | sed -E 's/  .*//' |
               grep -oE -- '--[a-z][a-z-]*' | sort -u); do
    if ! grep -qF -- "$opt" <<<"$man_text"; then
      failed=$((failed + 1))
      echo "FAIL: $tool.1 does not mention $opt"
    fi
  done
  passed=$((passed + 1))
done

# A sanitizer build's libraries need the sanitizer runtimes in the program too.
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
flags=()
if grep -q '^MLG_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt"; then
  flags=(-fsanitize=address,undefined)
fi
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$SRC/tests/lsan.supp:print_suppressions=0}"
export PKG_CONFIG_PATH="$P/$libdir/pkgconfig"

# runs_bundle NAME PROGRAM: the program runs the bundle twice, each run printing its output.
runs_bundle() {
  run "$1" env -u LD_LIBRARY_PATH MLG_DEVICE=opencl:0 "$2" "$bundle" &&
    check test "$(grep -c '^run [12]: probs =' "$TMP/$1.log")" -eq 2
}

check test "$(pkg-config --modversion mlg)" = "$version"
run pkgconfig-shared "$cc" "${flags[@]}" -o "$TMP/embed_shared" "$SRC/tools/embed_example.c" \
    $(pkg-config --cflags --libs mlg) -Wl,-rpath,"$(pkg-config --variable=libdir mlg)" &&
  runs_bundle run-pkgconfig-shared "$TMP/embed_shared"
run pkgconfig-static "$cc" "${flags[@]}" -o "$TMP/embed_static" "$SRC/tools/embed_example.c" \
    $(pkg-config --cflags mlg) "$(pkg-config --variable=libdir mlg)/libmlgrt.a" \
    $(pkg-config --static --libs-only-l mlg | sed 's/-lmlgrt//') &&
  check test -z "$(readelf -d "$TMP/embed_static" | grep 'NEEDED.*libmlgrt')" &&
  runs_bundle run-pkgconfig-static "$TMP/embed_static"

# A CMake project: find_package(mlg) and both targets.
run cmake-configure cmake -S "$SRC/tests/install" -B "$TMP/consumer" -DCMAKE_PREFIX_PATH="$P" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="${flags[*]}" -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}" \
    -DMLG_EMBED_SOURCE="$SRC/tools/embed_example.c" -DMLG_VERSION_WANTED="$major.$minor" &&
  run cmake-build cmake --build "$TMP/consumer" &&
  runs_bundle run-cmake-shared "$TMP/consumer/embed_shared" &&
  runs_bundle run-cmake-static "$TMP/consumer/embed_static"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
