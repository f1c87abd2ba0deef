#!/usr/bin/env bash
# tests/suite_pictures.sh BUILD_DIR SOURCE_DIR — mlgc's pictures, rendered so they never rot:
#   - every models/*.mlg's --emit=dot renders with Graphviz (dot -Tsvg) into SVG that xmllint
#     parses, with one cluster named after each kernel that --emit=fused lists;
#   - every model's --emit=plan --svg parses, with one rectangle per tensor stored in the arena
#     (the arena lines of --emit=plan that are not views);
#   - the pictures in docs/images/ are what tools/pictures.sh draws now.
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
MLGC="$BUILD/bin/mlgc"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-pictures.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }
for tool in dot xmllint; do
  if ! command -v "$tool" >/dev/null; then
    echo "pictures: $tool not found (Debian packages graphviz, libxml2-utils; tools/deps.sh)"
    echo "0 passed, 1 failed"
    exit 1
  fi
done

cd "$SRC" || exit 2
for model in models/*.mlg; do
  base=$(basename "$model" .mlg)
  if ! "$MLGC" "$model" --emit=dot -o "$TMP/$base.dot" ||
     ! "$MLGC" "$model" --emit=fused -o "$TMP/$base.fused" ||
     ! "$MLGC" "$model" --emit=plan --svg "$TMP/$base.plan.svg" -o "$TMP/$base.plan"; then
    failed=$((failed + 1)); echo "FAIL: $base: mlgc"; continue
  fi
  check dot -Tsvg "$TMP/$base.dot" -o "$TMP/$base.graph.svg"
  check xmllint --noout "$TMP/$base.graph.svg"
  # Each kernel of --emit=fused is (in) the label of a cluster.
  missing=0
  for kernel in $(sed -n 's/^kernel \([^ ]*\).*/\1/p' "$TMP/$base.fused"); do
    grep -qE "^    label=\"([^\"]*, )?$kernel(, [^\"]*)?\";" "$TMP/$base.dot" || { missing=1; echo "  no cluster for $kernel"; }
  done
  check test "$missing" = 0
  check xmllint --noout "$TMP/$base.plan.svg"
  want=$(sed -n '/^region arena/,/^[^ ]/p' "$TMP/$base.plan" | grep '^  %' | grep -vc '(view of' || true)
  got=$(grep -c '<g class="tensor">' "$TMP/$base.plan.svg" || true)
  check test "$want" = "$got"
done

# The docs' pictures are up to date (else: tools/pictures.sh BUILD_DIR, and commit them).
if bash "$SRC/tools/pictures.sh" "$BUILD" "$TMP/docs"; then
  for f in resnet_block.graph.svg resnet_block.plan.svg; do
    if cmp -s "$TMP/docs/$f" "docs/images/$f"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "FAIL: docs/images/$f is not what tools/pictures.sh draws now; run tools/pictures.sh $BUILD and commit it"
    fi
  done
else
  failed=$((failed + 1)); echo "FAIL: tools/pictures.sh"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
