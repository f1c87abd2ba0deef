#!/usr/bin/env bash
# tests/suite_embed.sh BUILD_DIR SOURCE_DIR — the embedding story end to end: mlgc compiles
# models/mlp.mlg to a bundle for each backend, and mlg_embed_example (linked against libmlgrt
# alone) loads it, runs it twice with different inputs, and prints the outputs. Checks that the
# program links nothing of the compiler, that both runs succeed, and that their outputs differ.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-embed.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }

# The program's own dependencies: libmlgrt and the C runtime (and the sanitizer runtimes in a
# sanitizer build), nothing of the compiler, shaderc or a driver loader.
needed=$(readelf -d "$BUILD/bin/mlg_embed_example" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
check grep -q '^libmlgrt' <<<"$needed"
check test -z "$(grep -vE '^(libmlgrt|libc|libm|libasan|libubsan|libgcc_s)\.so' <<<"$needed")"

for spec in opencl:0 vulkan:0; do
  target=${spec%%:*}
  bundle="$TMP/mlp.$target.mlgb"
  if ! "$BUILD/bin/mlgc" "$SRC/models/mlp.mlg" --target "$target" -o "$bundle"; then
    failed=$((failed + 1)); echo "FAIL: mlgc --target $target"; continue
  fi
  out="$TMP/$target.out"
  if MLG_DEVICE=$spec "$BUILD/bin/mlg_embed_example" "$bundle" >"$out" 2>&1; then
    passed=$((passed + 1))
    sed 's/^/    /' "$out"
    # Two runs, two different output lines.
    runs=$(grep -c '^run [0-9]*:' "$out" || true)
    distinct=$(grep '^run [0-9]*:' "$out" | sed 's/^run [0-9]*://' | sort -u | wc -l)
    check test "$runs" -eq 2 -a "$distinct" -eq 2
  else
    failed=$((failed + 1)); echo "FAIL: mlg_embed_example on $spec"; sed 's/^/    /' "$out"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
