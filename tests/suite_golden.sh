#!/usr/bin/env bash
# tests/suite_golden.sh BUILD_DIR SOURCE_DIR — golden-file tests of mlgc's text output.
#
#   models/<m>.mlg     : mlgc --emit=ast|graph|fused|dot|plan|kernels (OpenCL C), and --emit=kernels
#                        --target vulkan (GLSL, golden <m>.glsl.txt)  vs  tests/golden/<m>.<stage>.txt;
#                        for the models of F16_MODELS also plan, kernels and glsl with
#                        --precision=f16 (tests/golden/<m>.f16.<stage>.txt)
#   tests/diag/<d>.mlg : stderr of mlgc --emit=graph, then "exit: <status>"  vs  tests/diag/<d>.expected
#
# mlgc runs from SOURCE_DIR with relative paths, so goldens hold no absolute paths.
# MLG_UPDATE_GOLDEN=1 rewrites the golden files from mlgc's current output instead of comparing
# (a model that fails to compile, or a bad input that does not exit with status 1, is never
# written). Review the rewritten files with `git diff` before committing them.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
MLGC="$BUILD/bin/mlgc"
UPDATE=${MLG_UPDATE_GOLDEN:-0}
# Each stage: golden suffix, then mlgc's arguments.
STAGES=("ast --emit=ast" "graph --emit=graph" "fused --emit=fused" "dot --emit=dot"
        "plan --emit=plan" "kernels --emit=kernels" "glsl --emit=kernels --target vulkan")
# --precision=f16 (docs/language.md, "Precision"): a conv net and a transformer block.
F16_MODELS=(lenet transformer_block)
F16_STAGES=("f16.plan --emit=plan --precision=f16" "f16.kernels --emit=kernels --precision=f16"
            "f16.glsl --emit=kernels --target vulkan --precision=f16")
PER_RUN_TIMEOUT=120

cd "$SRC" || exit 2
if [ ! -x "$MLGC" ]; then
  echo "golden: $MLGC not built" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
export NO_COLOR=1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-golden.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
updated=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# compare NAME GOLDEN ACTUAL: diff, or rewrite in update mode.
compare() {
  local name=$1 golden=$2 actual=$3
  if [ "$UPDATE" = 1 ]; then
    if [ ! -f "$golden" ] || ! cmp -s "$golden" "$actual"; then
      cp "$actual" "$golden"
      updated=$((updated + 1))
      echo "updated: $golden"
    fi
    pass
  elif [ ! -f "$golden" ]; then
    fail "$name: no golden file $golden (create it with MLG_UPDATE_GOLDEN=1)"
  elif cmp -s "$golden" "$actual"; then
    pass
  else
    fail "$name: output differs from $golden"
    diff -u "$golden" "$actual" | sed 's/^/    /' | head -n 200
  fi
}

shopt -s nullglob
models=(models/*.mlg)
diags=(tests/diag/*.mlg)
if [ "${#models[@]}" -eq 0 ]; then
  fail "no models in $SRC/models"
fi

mkdir -p tests/golden
for model in "${models[@]}"; do
  base=$(basename "$model" .mlg)
  stages=("${STAGES[@]}")
  for m in "${F16_MODELS[@]}"; do
    [ "$m" = "$base" ] && stages+=("${F16_STAGES[@]}")
  done
  for entry in "${stages[@]}"; do
    read -r stage args <<<"$entry"
    name="$base $args"
    out="$TMP/$base.$stage.out"
    err="$TMP/$base.$stage.err"
    # shellcheck disable=SC2086 # args is a word list on purpose
    timeout "$PER_RUN_TIMEOUT" "$MLGC" "$model" $args >"$out" 2>"$err"
    rc=$?
    if [ "$rc" -ne 0 ]; then
      fail "$name: mlgc exited with status $rc"
      sed 's/^/    /' "$err" | head -n 40
      continue
    fi
    compare "$name" "tests/golden/$base.$stage.txt" "$out"
  done
done

for input in "${diags[@]}"; do
  base=$(basename "$input" .mlg)
  name="diag $base"
  actual="$TMP/$base.expected"
  timeout "$PER_RUN_TIMEOUT" "$MLGC" "$input" --emit=graph >/dev/null 2>"$actual"
  rc=$?
  echo "exit: $rc" >>"$actual"
  if [ "$rc" -ne 1 ]; then
    # A bad input must be rejected with status 1: 0 means it was accepted, anything else is a
    # crash, a timeout (124) or a sanitizer report.
    fail "$name: mlgc exited with status $rc, expected 1"
    sed 's/^/    /' "$actual" | head -n 40
    continue
  fi
  compare "$name" "tests/diag/$base.expected" "$actual"
done

# docs/ops.md: the block between the ops-doc markers is `mlgc --ops-doc` (the registry's
# reference tables); in update mode the block is rewritten in place, the prose around it kept.
DOC=docs/ops.md
doc_begin='^<!-- BEGIN ops-doc'
doc_end='^<!-- END ops-doc -->'
if ! "$MLGC" --ops-doc >"$TMP/ops-doc.actual" 2>"$TMP/ops-doc.err"; then
  fail "mlgc --ops-doc failed"
  sed 's/^/    /' "$TMP/ops-doc.err" | head -n 20
elif [ "$(grep -c "$doc_begin" "$DOC")" != 1 ] || [ "$(grep -c "$doc_end" "$DOC")" != 1 ]; then
  fail "$DOC: expected one '<!-- BEGIN ops-doc' line and one '<!-- END ops-doc -->' line"
else
  # The marker comment may span lines: the block starts after the line that ends it.
  awk -v b="$doc_begin" -v e="$doc_end" '
    $0 ~ b { inb = 1 } inb && !body && /-->/ { body = 1; next }
    $0 ~ e { exit } body { print }' "$DOC" >"$TMP/ops-doc.golden"
  if cmp -s "$TMP/ops-doc.golden" "$TMP/ops-doc.actual"; then
    pass
  elif [ "$UPDATE" = 1 ]; then
    awk -v b="$doc_begin" -v e="$doc_end" -v gen="$TMP/ops-doc.actual" '
      $0 ~ b { inb = 1 }
      inb && !body && /-->/ { print; body = 1; while ((getline l < gen) > 0) print l; next }
      $0 ~ e { body = 0; inb = 0 } !body { print }' "$DOC" >"$TMP/ops.md" && cp "$TMP/ops.md" "$DOC"
    updated=$((updated + 1))
    echo "updated: $DOC (the ops-doc block)"
    pass
  else
    fail "$DOC: the reference tables differ from the op registry (mlgc --ops-doc);" \
         "rewrite them with MLG_UPDATE_GOLDEN=1 bash tests/suite_golden.sh BUILD_DIR ."
    diff -u "$TMP/ops-doc.golden" "$TMP/ops-doc.actual" | sed 's/^/    /' | head -n 60
  fi
fi

# Goldens whose source is gone are stale.
for golden in tests/golden/*.txt; do
  stem=$(basename "$golden" .txt)
  model="models/${stem%%.*}.mlg"
  if [ ! -f "$model" ]; then
    fail "stale golden $golden (no $model)"
  fi
done
for expected in tests/diag/*.expected; do
  if [ ! -f "${expected%.expected}.mlg" ]; then
    fail "stale golden $expected (no ${expected%.expected}.mlg)"
  fi
done

[ "$UPDATE" = 1 ] && echo "golden: $updated file(s) rewritten"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
