#!/usr/bin/env bash
# tests/suite_mlgrun.sh BUILD_DIR SOURCE_DIR — what mlgrun tells its user, on PoCL: outputs
# summarized on stdout in the order the model declares them (not the order they are computed
# in), for a .mlg and for a bundle; and one line on stderr naming every input that got made-up
# values because no --input gave it (none when every input is given).
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-mlgrun.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $*"; fi; }
MLGRUN=("$BUILD/bin/mlgrun" --device cpu --no-outputs)

# h is computed before g, and input a is declared after h.
cat >"$TMP/order.mlg" <<'MLG'
model order {
  input b : f32[3]
  h = relu(b)
  input a : f32[3]
  g = a * 2.0
  output g
  output s = h + a
  output h
}
MLG
"$BUILD/bin/mlgc" "$TMP/order.mlg" -o "$TMP/order.mlgb" || { echo "FAIL: mlgc order.mlg"; exit 1; }
for model in "$TMP/order.mlg" "$TMP/order.mlgb"; do
  if "${MLGRUN[@]}" "$model" >"$TMP/out" 2>"$TMP/err"; then
    check test "$(cut -d: -f1 "$TMP/out" | tr '\n' ' ')" = "g s h "
    check grep -qx "mlgrun: inputs without --input: b, a random in \[-1, 1) (--seed 0)" "$TMP/err"
  else
    failed=$((failed + 1)); echo "FAIL: mlgrun $model"; cat "$TMP/err"
  fi
done

# An f32 input and an i32 one (gather indices): the line names those not given, and only them.
fx="$SRC/tests/fixtures/gather_axis0"
run() { "${MLGRUN[@]}" "$fx/model.mlg" "$@" >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; return 1; }; }
check run --seed 7
check grep -qx "mlgrun: inputs without --input: x random in \[-1, 1) (--seed 7); idx all 0 (integers)" "$TMP/err"
check run --input "idx=$fx/idx.npy"
check grep -qx "mlgrun: inputs without --input: x random in \[-1, 1) (--seed 0)" "$TMP/err"
check run --input "x=$fx/x.npy"
check grep -qx "mlgrun: inputs without --input: idx all 0 (integers)" "$TMP/err"
check run --input "x=$fx/x.npy" --input "idx=$fx/idx.npy"
check test "$(grep -c 'without --input' "$TMP/err")" -eq 0
check test "$(wc -l <"$TMP/err")" -eq 1 # the load/run line alone

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
