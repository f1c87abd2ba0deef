#!/usr/bin/env bash
# tools/bench/cold_start.sh — the time of a model's first mlgrun (cold: no mlg cache and no
# driver cache) and of the next one (warm), per model and device; docs/performance.md.
#
#   tools/bench/cold_start.sh BUILD_DIR DEVICE [DEVICE ...]
#
# Models: models/lenet.mlg, models/resnet18.mlg (-D N=1), and deep250, a 250-layer MLP written
# by this script (h{i} = relu(linear(h{i-1}, l{i}.weight, l{i}.bias)) + h{i-1} * 0.5, 64 wide,
# batch 8), whose layers repeat one shape. Each line: model, device, distinct kernels, launches,
# cold wall ms, warm wall ms (whole mlgrun processes, compiling the .mlg included).
# Cold means a fresh MLG_CACHE_DIR, a fresh PoCL kernel cache (POCL_CACHE_DIR) and NVIDIA's
# caches off (CUDA_CACHE_DISABLE=1, __GL_SHADER_DISK_CACHE=0; lavapipe keeps none); warm is the
# same command again, with mlg's and PoCL's caches as the cold run left them.
# MLG_COLD_MODELS ("lenet resnet18 deep250" by default) picks models.
set -euo pipefail
BUILD=${1:?usage: cold_start.sh BUILD_DIR DEVICE [DEVICE ...]}
shift
[ $# -gt 0 ] || { echo "cold_start.sh: give at least one device (opencl:0, vulkan:0, ...)" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

deep="$WORK/deep250.mlg"
{
  echo "model deep250 {"
  echo "  input x : f32[8, 64]"
  for i in $(seq 1 250); do
    echo "  param l$i.weight : f32[64, 64] = normal(0, 0.05, seed=$i)"
    echo "  param l$i.bias : f32[64] = zeros"
  done
  echo "  h0 = x"
  for i in $(seq 1 250); do echo "  h$i = relu(linear(h$((i - 1)), l$i.weight, l$i.bias)) + h$((i - 1)) * 0.5"; done
  echo "  output y = h250"
  echo "}"
} >"$deep"

now_ms() { date +%s%3N; }
printf '%-10s %-10s %8s %8s %10s %10s\n' model device kernels launches cold_ms warm_ms
for model in ${MLG_COLD_MODELS:-lenet resnet18 deep250}; do
  case "$model" in
    deep250) src="$deep"; dims=() ;;
    resnet18) src="$ROOT/models/resnet18.mlg"; dims=(-D N=1) ;;
    *) src="$ROOT/models/$model.mlg"; dims=() ;;
  esac
  "$BUILD/bin/mlgc" "$src" "${dims[@]}" --emit=fused -o "$WORK/fused"
  counts=$(head -1 "$WORK/fused")
  # "..., 250 launches per run of 1 distinct kernel" (builds before deduplication: "250 kernels
  # launched per run", one kernel per launch).
  launches=$(sed -E 's/.* ([0-9]+) (launches|kernels launched).*/\1/' <<<"$counts")
  kernels=$launches
  if grep -q distinct <<<"$counts"; then kernels=$(sed -E 's/.* of ([0-9]+) distinct.*/\1/' <<<"$counts"); fi
  quiet=()
  if "$BUILD/bin/mlgrun" --help | grep -q -- --quiet; then quiet=(--quiet); fi
  for device in "$@"; do
    cache="$WORK/cache-$model-${device/:/-}"
    times=()
    for pass in cold warm; do
      t0=$(now_ms)
      POCL_CACHE_DIR="$cache/pocl" CUDA_CACHE_DISABLE=1 __GL_SHADER_DISK_CACHE=0 MLG_CACHE_DIR="$cache" \
        "$BUILD/bin/mlgrun" "$src" "${dims[@]}" --device "$device" --no-outputs --no-tune "${quiet[@]}" >"$WORK/out" 2>&1 ||
        { cat "$WORK/out" >&2; exit 1; }
      times+=($(($(now_ms) - t0)))
    done
    printf '%-10s %-10s %8s %8s %10s %10s\n' "$model" "$device" "$kernels" "$launches" "${times[0]}" "${times[1]}"
  done
done
