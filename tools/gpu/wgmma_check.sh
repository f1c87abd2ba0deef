#!/usr/bin/env bash
# tools/gpu/wgmma_check.sh [BUILD_DIR] [OUT_DIR] — on an H100/H200 (compute capability 9.0):
# checks the warpgroup-product GEMM (codegen/templates/matmul_wgmma.c) end to end.
#   1. which GEMM kernel runs (the profile names it: k_*_wgmma, k_*_mma or the tiled one), with
#      the feature on and with MLG_DISABLE_FEATURES=ptxwgmma;
#   2. f16 products against NumPy's (f32 sums of the same halves): matmul with B as [K, N]
#      (n-major in the kernel) and linear with W as [N, K] (k-major), at 2048³ and at ragged
#      1500 × 1800 × 1032 (128 × 128 tiles: edge tiles, a K step cut short), 1000 × 760 × 1032
#      (128 × 64) and 300 × 200 × 264 (64 × 64), with the new kernel and without;
#   3. tools/bench/run.py's hgemm_2048 / hgemm_4096 beside torch-cuda (cuBLAS FP16); BENCH= skips it.
# BUILD_DIR (default build) holds bin/mlgrun; logs and results go to OUT_DIR (default
# wgmma-check). Python with numpy (and torch for step 3): $PYTHON (default python3).
set -uo pipefail
BUILD=${1:-build}
OUT=${2:-wgmma-check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
MLGRUN="$BUILD/bin/mlgrun"

model() { # M N K: a model with both products
  cat >"$OUT/t.mlg" <<MODEL
model t {
  input a : f16[$1, $3]
  input b : f16[$3, $2]
  input w : f16[$2, $3]
  output c = matmul(a, b)
  output y = linear(a, w)
}
MODEL
}

for shape in "2048 2048 2048" "1500 1800 1032" "1000 760 1032" "300 200 264"; do
  read -r M N K <<<"$shape"
  model "$M" "$N" "$K"
  "$PYTHON" - "$OUT" "$M" "$N" "$K" <<'PY'
import sys, numpy as np
out, M, N, K = sys.argv[1], *map(int, sys.argv[2:])
r = np.random.default_rng(1)
for name, shape in (("a", (M, K)), ("b", (K, N)), ("w", (N, K))):
    np.save(f"{out}/{name}.npy", (r.integers(-8, 9, shape) / 16).astype(np.float16))
PY
  for features in "" ptxwgmma; do
    tag="${M}x${N}x${K}${features:+-no-wgmma}"
    mkdir -p "$OUT/$tag"
    MLG_DISABLE_FEATURES=$features "$MLGRUN" "$OUT/t.mlg" --device gpu --quiet --input a="$OUT/a.npy" \
      --input b="$OUT/b.npy" --input w="$OUT/w.npy" --output-dir "$OUT/$tag" >"$OUT/$tag.log" 2>&1 ||
      echo "FAIL run $tag: $(tail -3 "$OUT/$tag.log")"
    MLG_DISABLE_FEATURES=$features "$MLGRUN" "$OUT/t.mlg" --device gpu --profile --quiet --output-dir "$OUT/profile" \
      2>&1 | grep -o 'k_[a-z_0-9]*' | sort -u | tr '\n' ' ' | sed "s/^/kernels $tag: /"
    echo
    "$PYTHON" - "$OUT" "$tag" <<'PY'
import sys, numpy as np
out, tag = sys.argv[1:]
a, b, w = (np.load(f"{out}/{n}.npy").astype(np.float32) for n in "abw")
for name, ref in (("c", a @ b), ("y", a @ w.T)):
    try:
        got = np.load(f"{out}/{tag}/{name}.npy").astype(np.float32)
    except OSError:
        print(f"FAIL {tag} {name}: no output"); continue
    err = np.abs(got - ref.astype(np.float16).astype(np.float32)).max()
    tol = 2 ** -10 * np.abs(ref).max() + 1e-3
    print(f"{'ok  ' if err <= tol else 'FAIL'} {tag} {name}: max |error| {err:.3g} (tolerance {tol:.3g})")
PY
  done
done

if [ -n "${BENCH-1}" ]; then
  "$PYTHON" tools/bench/run.py --device gpu --no-tune --build "$BUILD" --no-compile --peers torch-cuda \
    --only '^hgemm_(2048|4096)$' --out "$OUT/bench" >"$OUT/bench.log" 2>&1 || echo "FAIL bench: $(tail -3 "$OUT/bench.log")"
  cat "$OUT/bench/bench.md" 2>/dev/null
fi
