#!/usr/bin/env bash
# tools/gpu/hgemm_sweep.sh [BUILD_DIR] [OUT_DIR] — on a machine with an NVIDIA GPU: times the
# tensor-core GEMM (codegen/templates/matmul_mma.c) in every configuration beside PyTorch half
# (cuBLAS FP16) in the same run, so that one call finds the best configuration per size.
#
# For each N of $SIZES (default "2048 4096") and each configuration of $CONFIGS (default: 0, the
# built-in choice, and 1..47 of kt_matmul_mma_config, docs/performance.md "Tensor cores"):
# mlgc tools/bench/mlg/hgemm.mlg -D N=N --mma-config=C (a configuration over the 48 KiB of local
# memory is refused by mlgc: "refused"), then mlgrun --bench on $DEVICE (default gpu) with
# --profile, which names the kernel that ran (k_matmul_mma: tensor cores; k_matmul: the tiled
# fallback, the row then says FALLBACK), with fixed inputs whose product PyTorch computed in f32
# on the GPU: the row says "ok" when the output is within 5e-3 of the product's largest value
# (the bench's own check, docs/performance.md), else WRONG. Then the normal benchmark
# (tools/bench/run.py --precision f16 --only '^hgemm_(2048|4096)$', which tunes the device first
# when its GEMM tuning cache has no table: the tuner's tensor-core search picks a configuration
# per shape class), unless SKIP_RUNPY=1.
#
# Output: OUT_DIR (default hgemm-sweep)/sweep.md, one table per N sorted by device time, and
# the logs. Needs BUILD_DIR/bin/mlgc and mlgrun (a Release build times fairly) and python3 with
# numpy and torch ($PYTHON). Knobs: SIZES, CONFIGS, DEVICE, RUNS (default 30), WARMUP (10).
set -uo pipefail
BUILD=${1:-build}
OUT=${2:-hgemm-sweep}
PYTHON=${PYTHON:-python3}
SIZES=${SIZES:-2048 4096}
CONFIGS=${CONFIGS:-$(seq 0 47)}
DEVICE=${DEVICE:-gpu}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-10}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=$(cd "$BUILD" && pwd) || exit 2
export LD_LIBRARY_PATH="$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MLG_CACHE_DIR="$OUT/cache"
unset MLG_DISABLE_FEATURES
MD="$OUT/sweep.md"
echo "# HGEMM sweep ($(date -u +%Y-%m-%dT%H:%MZ), device $DEVICE)" >"$MD"

for n in $SIZES; do
  dir="$OUT/n$n"
  mkdir -p "$dir"
  # Inputs, the f32 reference and PyTorch half's time (CUDA events, median of 50 after 10).
  if ! timeout 300 "$PYTHON" - "$n" "$dir" >"$dir/torch.txt" 2>"$dir/torch.log" <<'PY'
import sys, numpy as np
try:
    import torch
except ImportError:  # no peer (a machine without PyTorch): the f32 reference from NumPy
    torch = None
n, d = int(sys.argv[1]), sys.argv[2]
g = np.random.default_rng(17)
a = (g.random((n, n), dtype=np.float32) * 2 - 1).astype(np.float16)
b = (g.random((n, n), dtype=np.float32) * 2 - 1).astype(np.float16)
np.save(f"{d}/a.npy", a)
np.save(f"{d}/b.npy", b)
if torch is not None and torch.cuda.is_available():
    torch.backends.cuda.matmul.allow_tf32 = False
    ta, tb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    ref = (ta.float() @ tb.float()).cpu().numpy()
    for _ in range(10):
        ta @ tb
    times = []
    for _ in range(50):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); ta @ tb; e.record(); torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    ms = sorted(times)[len(times) // 2]
    print(f"{ms:.4f} {2 * n**3 / ms / 1e9:.1f}")
else:
    ref = a.astype(np.float32) @ b.astype(np.float32)
    print("- -")
np.save(f"{d}/ref.npy", ref)
PY
  then
    echo "hgemm_sweep: N=$n: the PyTorch step failed: $(tail -n 3 "$dir/torch.log")" | tee -a "$MD"
    continue
  fi
  read -r torch_ms torch_tf <"$dir/torch.txt"
  rows="$dir/rows.txt"
  : >"$rows"
  for c in $CONFIGS; do
    opt=()
    [ "$c" != 0 ] && opt=(--mma-config="$c")
    b="$dir/c$c.mlgb"
    if ! timeout 120 "$BUILD/bin/mlgc" "$ROOT/tools/bench/mlg/hgemm.mlg" -D N="$n" "${opt[@]}" -o "$b" \
         >"$dir/c$c.mlgc.log" 2>&1; then
      echo "- $c refused $(grep -o 'needs [0-9]* bytes of local memory' "$dir/c$c.mlgc.log" | head -n 1)" >>"$rows"
      continue
    fi
    log="$dir/c$c.run.log"
    rm -rf "$dir/out"
    if ! timeout 180 "$BUILD/bin/mlgrun" "$b" --device "$DEVICE" --input a="$dir/a.npy" --input b="$dir/b.npy" \
         --output-dir "$dir/out" --bench "$RUNS" --warmup "$WARMUP" --profile >"$log" 2>&1; then
      echo "- $c FAILED (rc $?, $log)" >>"$rows"
      continue
    fi
    ms=$(sed -n 's/^bench: median .* ms wall, \([0-9.]*\) ms device.*/\1/p' "$log")
    kernel=$(grep -o 'k_matmul[a-z_]*' "$log" | head -n 1)
    check=$("$PYTHON" -c '
import sys, numpy as np
c = np.load(sys.argv[1]).astype(np.float32); r = np.load(sys.argv[2])
err = float(np.abs(c - r).max()) / float(np.abs(r).max())
print(("ok" if err <= 5e-3 else "WRONG") + " %.1e" % err)' "$dir/out/c.npy" "$dir/ref.npy" 2>&1 | tail -n 1)
    case $kernel in *_mma) ;; *) kernel="$kernel(FALLBACK)" ;; esac
    echo "$ms $c $kernel $check" >>"$rows"
  done
  {
    echo
    echo "## N = $n (PyTorch half: ${torch_ms} ms, ${torch_tf} TFLOP/s)"
    echo
    echo "| config | what | device ms | TFLOP/s | × PyTorch | kernel | check |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    sort -g "$rows" | while read -r ms c rest; do
      if [ "$ms" = "-" ]; then
        echo "| $c | | $rest | | | | |"
        continue
      fi
      read -r kernel check <<<"$rest"
      what=$("$PYTHON" -c '
import sys
c = int(sys.argv[1])
if c == 0: print("built-in"); raise SystemExit
if c > 36: print(f"pipelined {c} (matmul_mma.c)"); raise SystemExit
i = c - 1; g = [(2, 2), (2, 4), (4, 2)][i // 12]; w = [(32, 32), (64, 32), (64, 64)][i // 4 % 3]
k = (32, 64)[i // 2 % 2]; buf = ("double", "single")[i % 2]
print(f"{g[0]}x{g[1]} warps of {w[0]}x{w[1]}, k{k}, {buf}")' "$c")
      tf=$(awk -v n="$n" -v ms="$ms" 'BEGIN { printf "%.1f", 2 * n * n * n / ms / 1e9 }')
      ratio=$(awk -v t="$torch_ms" -v ms="$ms" 'BEGIN { if (t + 0 > 0) printf "%.2f", t / ms; else print "-" }')
      echo "| $c | $what | $ms | $tf | $ratio | $kernel | $check |"
    done
  } >>"$MD"
done
cat "$MD"

if [ "${SKIP_RUNPY:-0}" != 1 ]; then
  echo
  echo "-- tools/bench/run.py --device gpu --precision f16 --only '^hgemm_(2048|4096)\$'"
  timeout 900 "$PYTHON" "$ROOT/tools/bench/run.py" --device gpu --precision f16 --build "$BUILD" \
    --only '^hgemm_(2048|4096)$' --out "$OUT/bench" >"$OUT/bench.log" 2>&1
  echo "run.py rc=$?"
  grep -E 'tuned' "$OUT/bench.log"
  [ -f "$OUT/bench/bench.md" ] && grep -E '^\| hgemm_' "$OUT/bench/bench.md"
fi
