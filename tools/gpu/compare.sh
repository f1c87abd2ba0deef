#!/usr/bin/env bash
# tools/gpu/compare.sh OUT_DIR BUILD_DIR... — on a machine with an NVIDIA GPU: registers its
# OpenCL and Vulkan drivers (drivers.sh), then times a fixed set of workloads with
# `mlgrun --bench` on each GPU device (OpenCL and Vulkan) with each build given, one line per
# (build, device, workload), so two builds (say main and a change) are compared in one call on
# the same warm machine. Extra workloads: MLG_COMPARE_EXTRA="model.mlg -D N=1;..."; extra
# mlgrun flags for every run: MLG_COMPARE_FLAGS (e.g. --no-tune). Each build keeps its caches
# (programs, GEMM tuning) in OUT_DIR/cache-BUILD.
set -uo pipefail
OUTDIR=${1:?usage: compare.sh OUT_DIR BUILD_DIR...}
shift
mkdir -p "$OUTDIR"
# shellcheck source=tools/gpu/drivers.sh
. "$(dirname "${BASH_SOURCE[0]}")/drivers.sh"

WORKLOADS=("tools/bench/mlg/sgemm.mlg -D N=1024" "tools/bench/mlg/sgemm.mlg -D N=2048"
           "tools/bench/mlg/sgemm.mlg -D N=4096" "tools/bench/mlg/sgemm.mlg -D N=4095"
           "models/mlp.mlg -D N=1" "models/mlp.mlg -D N=256"
           "tools/bench/mlg/conv3x3.mlg -D N=16" "models/resnet18.mlg -D N=16"
           "models/transformer_block.mlg -D C=768 -D H=12 -D T=128")
IFS=';' read -r -a extra <<<"${MLG_COMPARE_EXTRA:-}"
WORKLOADS+=("${extra[@]}")
for build in "$@"; do
  export LD_LIBRARY_PATH="$PWD/$build/lib"
  export MLG_CACHE_DIR="$OUTDIR/cache-$(basename "$build")"
  devs=$("$build/bin/mlgrun" --list-devices | awk '/, GPU[],]/ {print $1}')
  for dev in $devs; do
    for w in "${WORKLOADS[@]}"; do
      [ -n "$w" ] || continue
      # shellcheck disable=SC2086
      line=$(timeout 120 "$build/bin/mlgrun" $w ${MLG_COMPARE_FLAGS:-} --device "$dev" --bench 10 --max-seconds 3 \
             --no-outputs 2>"$OUTDIR/err.txt" | tail -n 1)
      [ -n "$line" ] || line="FAILED: $(tail -n 2 "$OUTDIR/err.txt" | tr '\n' ' ')"
      printf '%-14s %-10s %-55s %s\n' "$(basename "$build")" "$dev" "$w" "$line"
    done
  done
done
