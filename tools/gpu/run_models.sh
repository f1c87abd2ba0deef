#!/usr/bin/env bash
# tools/gpu/run_models.sh BUILD_DIR OUT_DIR — on a machine with an NVIDIA GPU (see
# ../shared/GPU.md): registers NVIDIA's OpenCL and Vulkan drivers, runs every model in models/
# on the CPU (PoCL) and on each GPU device, cold (empty program cache) and warm, and compares
# every output with the CPU's. Prints one line per (model, device) and exits non-zero on a
# mismatch or a failed run.
set -uo pipefail
BUILD=${1:?usage: run_models.sh BUILD_DIR OUT_DIR}
OUTDIR=${2:?usage: run_models.sh BUILD_DIR OUT_DIR}
mkdir -p "$OUTDIR"

# shellcheck source=tools/gpu/drivers.sh
. "$(dirname "${BASH_SOURCE[0]}")/drivers.sh"

RUN="$BUILD/bin/mlgrun"
"$RUN" --list-devices | tee "$OUTDIR/devices.txt"
# The kind is a field of the bracket: "[NVIDIA CUDA, GPU]", "[Vulkan 1.4, NVIDIA, GPU, subgroup 32 ...]".
cpu=$(awk '/, CPU[],]/ && $1 ~ /^opencl:/ {print $1; exit}' "$OUTDIR/devices.txt")
gpus=$(awk '/, GPU[],]/ {print $1}' "$OUTDIR/devices.txt")
status=0
for model in models/*.mlg; do
  name=$(basename "$model" .mlg)
  for dev in $cpu $gpus; do
    dir="$OUTDIR/$name/${dev/:/_}"
    cache="$OUTDIR/cache/${dev/:/_}"
    rm -rf "$cache"
    mkdir -p "$dir"
    for pass in cold warm; do
      start=$(date +%s%N)
      if ! MLG_CACHE_DIR="$cache" "$RUN" "$model" --device "$dev" --output-dir "$dir" \
          >"$dir/$pass.log" 2>&1; then
        echo "$name $dev $pass: FAILED"; tail -5 "$dir/$pass.log"; status=1; continue 2
      fi
      end=$(date +%s%N)
      printf '%s %s %s: %d ms wall  (%s)\n' "$name" "$dev" "$pass" \
        $(((end - start) / 1000000)) "$(grep -o 'load .*' "$dir/$pass.log" | head -1)"
    done
  done
done
python3 - "$OUTDIR" "$cpu" <<'PY' || status=1
import glob, os, sys
import numpy as np
out, cpu = sys.argv[1], sys.argv[2].replace(':', '_')
bad = 0
for model_dir in sorted(glob.glob(os.path.join(out, '*', ''))):
    ref_dir = os.path.join(model_dir, cpu)
    if not os.path.isdir(ref_dir):
        continue
    for dev_dir in sorted(glob.glob(os.path.join(model_dir, '*'))):
        if dev_dir.rstrip('/') == ref_dir.rstrip('/') or not os.path.isdir(dev_dir):
            continue
        for ref in sorted(glob.glob(os.path.join(ref_dir, '*.npy'))):
            got = os.path.join(dev_dir, os.path.basename(ref))
            if not os.path.exists(got):
                print(f'{model_dir} {dev_dir}: missing {os.path.basename(ref)}'); bad += 1; continue
            a, b = np.load(ref), np.load(got)
            err = np.abs(a - b).max() / max(1e-30, np.abs(a).max())
            ok = a.shape == b.shape and err <= 1e-4
            bad += not ok
            print(f'compare {os.path.basename(model_dir.rstrip("/"))} {os.path.basename(dev_dir)} '
                  f'{os.path.basename(ref)} {a.shape}: max|diff|/max|ref| = {err:.2e} {"ok" if ok else "MISMATCH"}')
sys.exit(1 if bad else 0)
PY
exit $status
