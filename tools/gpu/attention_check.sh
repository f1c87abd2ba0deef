#!/usr/bin/env bash
# tools/gpu/attention_check.sh [BUILD_DIR] [OUT_DIR] — on a machine with an NVIDIA GPU (Ampere or
# later): checks the tensor-core attention of issue 17 (codegen/templates/attention_mma.c) end
# to end and prints a summary.
#
#   1. which kernel runs, told by a profiled f16 attention per backend:
#      k_scaled_dot_product_attention_mma is the tensor-core variant, k_scaled_dot_product_attention
#      its fallback;
#   2. correctness: tools/bench/mlg/attention{,_full}_f16.mlg (q, k, v declared f16) against the
#      f32 models on the same inputs (rounded to halves), T = 1000 (ragged tiles) and 4096, on
#      `gpu` and `vulkan:0`, with the variant and again with MLG_DISABLE_FEATURES forcing the
#      fallback: the largest difference relative to the output's peak must stay below 3e-3
#      (one rounding of the f16 result, p rounded to a half in the variant); then the f16 model
#      fixtures (transformer_block, gpt2_block at --precision=f16, whose attention reads f16
#      intermediates) with and without the variants;
#   3. speed: run.py --precision f16 --only attention (T = 1024 and 4096, 12 heads of 64, causal
#      and not) on both backends beside torch-cuda-half (PyTorch's SDPA, flash at these shapes),
#      into OUT_DIR/bench-{opencl,vulkan}/bench.md, and the OpenCL fallback alone for scale.
#
# BUILD_DIR (default build) must have the tests (-DMLG_BUILD_TESTS=ON); a Release build times
# fairly. Every step has a timeout and the script goes on after a failure; logs are in OUT_DIR
# (default attention-check). Python with numpy and torch: $PYTHON (default python3).
set -uo pipefail
PYTHON=${PYTHON:-python3}

# (internal) attention_check.sh --compare BUILD OUT DEV MODEL T [DISABLE]: the f16 model against
# the f32 one on the same inputs (step 2), as a process of its own so that `timeout` can run it.
if [ "${1:-}" = --compare ]; then
  BUILD=$2 OUT=$3 dev=$4 model=$5 t=$6 off=${7:-}
  dir="$OUT/run-${dev%%:*}-$model-T$t${off:+-fallback}"
  mkdir -p "$dir/f16" "$dir/f32"
  env ${off:+MLG_DISABLE_FEATURES=$off} "$BUILD/bin/mlgrun" "tools/bench/mlg/${model}_f16.mlg" -D T="$t" \
    --device "$dev" --quiet --input q="$OUT/q16_T$t.npy" --input k="$OUT/k16_T$t.npy" \
    --input v="$OUT/v16_T$t.npy" --output-dir "$dir/f16" &&
  "$BUILD/bin/mlgrun" "tools/bench/mlg/$model.mlg" -D T="$t" --device "$dev" --quiet \
    --input q="$OUT/q32_T$t.npy" --input k="$OUT/k32_T$t.npy" --input v="$OUT/v32_T$t.npy" \
    --output-dir "$dir/f32" &&
  exec "$PYTHON" "$OUT/compare.py" "$dir/f16/y.npy" "$dir/f32/y.npy"
  exit 1
fi

BUILD=${1:-build}
OUT=${2:-attention-check}
# shellcheck source=tools/gpu/check_steps.sh
. "$(dirname "${BASH_SOURCE[0]}")/check_steps.sh"

step devices 60 "$BUILD/bin/mlgrun" --list-devices
cat "$OUT/devices.log"

# 1. Which kernel runs.
for dev in gpu vulkan:0; do
  tag=${dev%%:*}
  step "profile-$tag" 300 "$BUILD/bin/mlgrun" tools/bench/mlg/attention_f16.mlg -D T=4096 --device "$dev" \
    --profile --no-outputs
  if grep -q 'k_scaled_dot_product_attention_mma' "$OUT/profile-$tag.log"; then
    SUMMARY+=("info    $dev runs the tensor-core variant (k_scaled_dot_product_attention_mma)")
  elif grep -q 'k_scaled_dot_product_attention' "$OUT/profile-$tag.log"; then
    SUMMARY+=("info    $dev runs the FALLBACK (k_scaled_dot_product_attention): feature not found")
  fi
done

# 2. Correctness: f16 against f32 on the same halves.
"$PYTHON" - "$OUT" <<'EOF'
import sys
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(17)
for t in (1000, 4096):
    for n in "qkv":
        x = rng.uniform(-1, 1, (1, 12, t, 64)).astype(np.float16)
        np.save(f"{out}/{n}16_T{t}.npy", x)
        np.save(f"{out}/{n}32_T{t}.npy", x.astype(np.float32))
EOF
cat >"$OUT/compare.py" <<'EOF'
import sys
import numpy as np
a = np.load(sys.argv[1]).astype(np.float64)
b = np.load(sys.argv[2]).astype(np.float64)
err = np.abs(a - b).max() / np.abs(b).max()
print(f"compare: {sys.argv[1]} vs f32: {err:.2e} of the peak (bound 3e-3)")
sys.exit(0 if err <= 3e-3 else 1)
EOF
for dev in gpu vulkan:0; do
  tag=${dev%%:*}
  for model in attention attention_full; do
    for t in 1000 4096; do
      step "check-$tag-$model-T$t" 600 bash "$0" --compare "$BUILD" "$OUT" "$dev" "$model" "$t"
      step "check-$tag-$model-T$t-fallback" 600 bash "$0" --compare "$BUILD" "$OUT" "$dev" "$model" "$t" \
        ptxmma,coopmat
    done
  done
  step "fixtures-$tag-f16-blocks" 1800 env MLG_TEST_DEVICE="$dev" MLG_FIXTURES=_block MLG_TEST_O0=0 \
    MLG_TEST_F16=models "$BUILD/bin/test_fixtures"
  step "fixtures-$tag-f16-blocks-fallback" 1800 env MLG_TEST_DEVICE="$dev" MLG_FIXTURES=_block MLG_TEST_O0=0 \
    MLG_TEST_F16=models MLG_DISABLE_FEATURES=ptxmma,coopmat "$BUILD/bin/test_fixtures"
done

# 3. Speed beside PyTorch half's SDPA.
for backend in opencl vulkan; do
  step "bench-$backend" 1800 "$PYTHON" tools/bench/run.py --device gpu --backend "$backend" --build "$BUILD" \
    --precision f16 --only '^attention_' --peers '^torch-cuda-half$' --no-compile --out "$OUT/bench-$backend"
done
step "bench-opencl-fallback" 1800 env MLG_DISABLE_FEATURES=ptxmma "$PYTHON" tools/bench/run.py --device gpu \
  --build "$BUILD" --precision f16 --only '^attention_' --no-peers --out "$OUT/bench-opencl-fallback"

echo
echo "== attention_check summary (logs in $OUT)"
printf '%s\n' "${SUMMARY[@]}"
for b in opencl vulkan opencl-fallback; do
  [ -f "$OUT/bench-$b/bench.md" ] || continue
  echo "-- $b: workload | mlg device ms | ... (speed = torch time / mlg time; target >= 0.5)"
  grep -E '^\| attention_' "$OUT/bench-$b/bench.md"
done
