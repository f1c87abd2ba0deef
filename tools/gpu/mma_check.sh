#!/usr/bin/env bash
# tools/gpu/mma_check.sh [BUILD_DIR] [OUT_DIR] — on a machine with an NVIDIA GPU (Ampere or
# later): checks the tensor-core GEMM of issue 17 end to end and prints a summary.
#
#   1. the devices, and which optional features the runtime finds (ptxmma on OpenCL, coopmat on
#      Vulkan) — told by the kernel names of a profiled f16 GEMM: k_matmul_mma is the
#      tensor-core variant, k_matmul its tiled fallback;
#   2. the f16 GEMM fixtures (matmul_f16_*, linear_f16_*) on `gpu` (OpenCL) and `vulkan:0` with
#      the variants, then again with MLG_DISABLE_FEATURES forcing the fallback;
#   3. tools/bench/run.py's hgemm_2048 / hgemm_4096 (and sgemm_4096 for scale) on both backends
#      beside torch-cuda (cuBLAS FP16), into OUT_DIR/bench-{opencl,vulkan}/bench.md.
#   Convolutions (conv2d as GEMM gathering B from x): a profiled ResNet-18 at batch 16 under
#   --precision=f16 per backend (k_conv2d*_mma are the variants), the f16 model fixtures with
#   GPU-class kernels (resnet_block, unet, ...) with the variants and with the fallbacks, and
#   resnet18_b16 at f16 beside PyTorch half (torch-cuda-half: cuDNN, channels_last) into
#   OUT_DIR/bench-resnet-{opencl,vulkan}/bench.md.
#
# BUILD_DIR (default build) must have the tests (-DMLG_BUILD_TESTS=ON); a Release build times
# fairly. Every step has a timeout and the script goes on after a failure; logs are in OUT_DIR
# (default mma-check). Python with numpy and torch: $PYTHON (default python3).
set -uo pipefail
BUILD=${1:-build}
OUT=${2:-mma-check}
PYTHON=${PYTHON:-python3}
# shellcheck source=tools/gpu/check_steps.sh
. "$(dirname "${BASH_SOURCE[0]}")/check_steps.sh"

step devices 60 "$BUILD/bin/mlgrun" --list-devices
cat "$OUT/devices.log"

# 1. Which kernel runs: a profiled f16 GEMM per backend (the profile names each dispatch's kernel).
for dev in gpu vulkan:0; do
  tag=${dev%%:*}
  step "profile-$tag" 300 "$BUILD/bin/mlgrun" tools/bench/mlg/hgemm.mlg -D N=4096 --device "$dev" --profile \
    --no-outputs
  if grep -q 'k_matmul_mma' "$OUT/profile-$tag.log"; then
    SUMMARY+=("info    $dev runs the tensor-core variant (k_matmul_mma)")
  elif grep -q 'k_matmul' "$OUT/profile-$tag.log"; then
    SUMMARY+=("info    $dev runs the FALLBACK (k_matmul): feature not found, see docs/runtime.md")
  fi
done

# 1b. Which kernel the convolutions run: ResNet-18 at f16, profiled.
for dev in gpu vulkan:0; do
  tag=${dev%%:*}
  step "profile-resnet-$tag" 900 "$BUILD/bin/mlgrun" models/resnet18.mlg -D N=16 --precision f16 --device "$dev" \
    --profile --no-outputs
  n=$(grep -c 'k_conv2d[a-z_]*_mma' "$OUT/profile-resnet-$tag.log")
  SUMMARY+=("info    $dev: ResNet-18 f16 profile lists $n tensor-core convolution dispatches (k_conv2d*_mma)")
done

# 2. Correctness: the f16 GEMM fixtures, variants then fallbacks (one compile each: -O2 only).
for dev in gpu vulkan:0; do
  tag=${dev%%:*}
  for f in matmul_f16 linear_f16; do
    step "fixtures-$tag-$f" 900 env MLG_TEST_DEVICE="$dev" MLG_FIXTURES="$f" MLG_TEST_O0=0 \
      "$BUILD/bin/test_fixtures"
    step "fixtures-$tag-$f-fallback" 900 env MLG_TEST_DEVICE="$dev" MLG_FIXTURES="$f" MLG_TEST_O0=0 \
      MLG_DISABLE_FEATURES=ptxmma,coopmat "$BUILD/bin/test_fixtures"
  done
  # The f16 models with GPU-class kernels: their convolutions are tensor-core GEMMs.
  step "fixtures-$tag-models-f16" 1800 env MLG_TEST_DEVICE="$dev" MLG_TEST_DEVICE_CLASS=2 MLG_TEST_O0=0 \
    MLG_TEST_F16=models CK_RUN_CASE=models_f16 "$BUILD/bin/test_fixtures"
  step "fixtures-$tag-models-f16-fallback" 1800 env MLG_TEST_DEVICE="$dev" MLG_TEST_DEVICE_CLASS=2 MLG_TEST_O0=0 \
    MLG_TEST_F16=models CK_RUN_CASE=models_f16 MLG_DISABLE_FEATURES=ptxmma,coopmat "$BUILD/bin/test_fixtures"
done

# 3. Speed: HGEMM beside cuBLAS FP16 (torch-cuda), on both backends.
for backend in opencl vulkan; do
  step "bench-$backend" 1800 "$PYTHON" tools/bench/run.py --device gpu --backend "$backend" --build "$BUILD" \
    --only '^(hgemm_(2048|4096)|sgemm_4096)$' --peers '^torch-cuda$' --no-compile --out "$OUT/bench-$backend"
  [ -f "$OUT/bench-$backend/bench.md" ] && grep -E '^\| (hgemm|sgemm)_' "$OUT/bench-$backend/bench.md" \
    | sed "s/^/  $backend: /"
  step "bench-resnet-$backend" 1800 "$PYTHON" tools/bench/run.py --device gpu --backend "$backend" --build "$BUILD" \
    --precision f16 --only '^resnet18_b16$' --peers '^torch-cuda-half$' --no-compile --out "$OUT/bench-resnet-$backend"
done

echo
echo "== mma_check summary (logs in $OUT)"
printf '%s\n' "${SUMMARY[@]}"
for backend in opencl vulkan; do
  [ -f "$OUT/bench-$backend/bench.md" ] || continue
  echo "-- $backend: workload | mlg device ms | ... | torch-cuda ms (speed = torch time / mlg time)"
  grep -E '^\| (hgemm|sgemm)_' "$OUT/bench-$backend/bench.md"
  [ -f "$OUT/bench-resnet-$backend/bench.md" ] && grep -E '^\| resnet18_' "$OUT/bench-resnet-$backend/bench.md"
done
