#!/usr/bin/env bash
# tests/suite_mma_ptx.sh BUILD_DIR SOURCE_DIR — the tensor-core kernels' OpenCL C, checked without
# an NVIDIA GPU: mlgc's kernels of models/hgemm.mlg (both built-in tile shapes: -D N=64 and
# -D N=1024; and N=1024 in each of the 47 configurations of kt_matmul_mma_config, forced with
# --mma-config, those over 48 KiB of local memory refused by mlgc, which is checked), of GPT-2's
# block under --precision=f16 (layer-norm prologues, an f32 A; attention on halves), of ResNet-18
# at batch 16 under --precision=f16 (convolutions as GEMMs whose B is gathered from x: the stem's
# f32 x, 3×3 windows with padding, the 1×1 stride-2 downsample) and of the f16 attention
# benchmarks (causal at T=4096; unmasked, ragged, head dim 32) and of the f16 GEMM benchmark at
# 2048 (its warpgroup-product kernel: each product a marked wgmma comment in the PTX, with its
# 64 accumulator registers substituted) compiled by clang for nvptx64
# (OpenCL C 1.2) to PTX. Checks that the inline PTX passes clang's operand constraints, that the
# PTX holds the mma.sync instructions (two per fragment step), that every convolution kernel
# (k_conv2d*, but the reduce of one split along K) has its tensor-core variant (k_conv2d*_mma),
# and so have the partial GEMMs of split ones (k_gemm_part*_mma), that nothing spills to local memory
# (the fragments stay in registers: no .local depot), that the pipelined configurations' copies
# are cp.async; and that ResNet-18 at f32 gets no tensor-core variant.
# NVIDIA's own OpenCL compiler takes `asm`, clang's OpenCL mode only `__asm__` (-Dasm=__asm__),
# and clang's header for nvptx lacks the vload_half(N) / vstore_half(N) overloads (declared here).
# Skipped (exit 0 with a note) where clang cannot target nvptx64.
set -uo pipefail
BUILD=$(cd "${1:?usage: suite_mma_ptx.sh BUILD_DIR SOURCE_DIR}" && pwd) || exit 2
SRC=$(cd "${2:?usage: suite_mma_ptx.sh BUILD_DIR SOURCE_DIR}" && pwd) || exit 2
CLANG=${CLANG:-clang}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-ptx.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
if ! command -v "$CLANG" >/dev/null || ! "$CLANG" -print-targets 2>/dev/null | grep -q nvptx64; then
  echo "suite_mma_ptx: $CLANG with the nvptx64 target not found; skipped"
  echo "0 passed, 0 failed"
  exit 0
fi
cat >"$TMP/prelude.cl" <<'EOF'
float __attribute__((overloadable)) vload_half(size_t o, const __global half *p);
void __attribute__((overloadable)) vstore_half(float v, size_t o, __global half *p);
void __attribute__((overloadable)) vstore_half(float v, size_t o, __local half *p);
float2 __attribute__((overloadable)) vload_half2(size_t o, const __global half *p);
float4 __attribute__((overloadable)) vload_half4(size_t o, const __global half *p);
void __attribute__((overloadable)) vstore_half2(float2 v, size_t o, __global half *p);
void __attribute__((overloadable)) vstore_half4(float4 v, size_t o, __global half *p);
EOF
passed=0
failed=0
specs=("hgemm.mlg -D N=64" "hgemm.mlg -D N=1024"
       "transformer_block.mlg -D T=1024 -D C=768 -D H=12 --precision=f16 --device-hint=gpu"
       "resnet18.mlg -D N=16 --precision=f16 --device-hint=gpu"
       "../tools/bench/mlg/attention_f16.mlg -D T=4096 --device-hint=gpu"
       "../tools/bench/mlg/attention_full_f16.mlg -D T=1000 -D D=32 --device-hint=gpu"
       "../tools/bench/mlg/hgemm.mlg -D N=2048 --device-hint=gpu")
for c in $(seq 1 47); do specs+=("hgemm.mlg -D N=1024 --mma-config=$c"); done
refused=0
for spec in "${specs[@]}"; do
  name="$spec"
  read -r -a args <<<"$spec"
  if ! timeout 120 "$BUILD/bin/mlgc" "$SRC/models/${args[0]}" "${args[@]:1}" --emit=kernels >"$TMP/k.cl" 2>"$TMP/err"; then
    if grep -q 'bytes of local memory, more than' "$TMP/err"; then
      refused=$((refused + 1)) # a configuration over 48 KiB: refused as documented
      continue
    fi
    echo "FAIL: $name: mlgc failed: $(cat "$TMP/err")"
    failed=$((failed + 1))
    continue
  fi
  cat "$TMP/prelude.cl" "$TMP/k.cl" >"$TMP/all.cl"
  if ! timeout 300 "$CLANG" -x cl -cl-std=CL1.2 -Xclang -finclude-default-header -Dasm=__asm__ \
       -target nvptx64-nvidia-nvcl -O2 -S -o "$TMP/k.ptx" "$TMP/all.cl" 2>"$TMP/err"; then
    echo "FAIL: $name: clang (nvptx64) rejects the OpenCL C:"
    head -n 20 "$TMP/err"
    failed=$((failed + 1))
    continue
  fi
  # Two mma.sync per fragment multiply-add, in each _mma kernel.
  mma=$(grep -c 'mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32' "$TMP/k.ptx")
  steps=$(grep -c 'mlg_mma_16(' "$TMP/k.cl")
  ldsm=$(grep -c 'ldmatrix.sync.aligned.m8n8.x4' "$TMP/k.ptx")
  if [ "$mma" -lt 2 ] || [ "$steps" -lt 2 ]; then
    echo "FAIL: $name: $mma mma.sync in the PTX for $steps fragment steps in the source"
    failed=$((failed + 1))
  elif [ "$ldsm" -lt 2 ]; then
    echo "FAIL: $name: $ldsm ldmatrix in the PTX (each fragment is loaded by one)"
    failed=$((failed + 1))
  elif [ "$(grep -c 'mlg_cp_async([ab]_tile' "$TMP/k.cl")" -gt 0 ] &&
       [ "$(grep -c 'cp.async.cg.shared.global' "$TMP/k.ptx")" -lt 2 ]; then
    echo "FAIL: $name: the pipelined kernel's asynchronous copies are not cp.async in the PTX"
    failed=$((failed + 1))
  elif [ "$(grep -c '^void k_conv2d[a-z0-9_]*_mma' "$TMP/k.cl")" -ne \
         "$(grep '^void k_conv2d' "$TMP/k.cl" | grep -v '_mma' | grep -vc 'restrict partial')" ]; then
    echo "FAIL: $name: a convolution run as GEMM has no tensor-core variant (k_conv2d*_mma)"
    failed=$((failed + 1))
  elif grep -q '^void k_conv2d[a-z0-9_]*(__global const float \*restrict partial' "$TMP/k.cl" &&
       ! grep -q '^void k_gemm_part[a-z0-9_]*_mma' "$TMP/k.cl"; then
    echo "FAIL: $name: a convolution split along K has no tensor-core variant of its partial GEMM"
    failed=$((failed + 1))
  elif [ "$(grep -c 'mlg_wgmma_n8_[01][01](acc' "$TMP/k.cl")" -gt 0 ] &&
       [ "$(grep -c '//MLGA wgmma.mma_async.sync.aligned.m64n128k16.f32.f16.f16' "$TMP/k.ptx")" -lt \
         "$(grep -c 'mlg_wgmma_n8_[01][01](acc' "$TMP/k.cl")" ]; then
    echo "FAIL: $name: a warpgroup product of the source is not a marked wgmma comment in the PTX"
    failed=$((failed + 1))
  elif grep -q '__local_depot' "$TMP/k.ptx"; then
    echo "FAIL: $name: the PTX spills to local memory (a fragment array left registers)"
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
done
# At f32 the convolutions keep the tiled kernel: their weights are floats, and rounding them to
# halves would change the model's numbers.
if "$BUILD/bin/mlgc" "$SRC/models/resnet18.mlg" -D N=16 --device-hint=gpu --emit=kernels >"$TMP/f32.cl" 2>"$TMP/err" &&
   ! grep -q '_mma(' "$TMP/f32.cl"; then
  passed=$((passed + 1))
else
  echo "FAIL: resnet18.mlg at f32 with a GPU hint: mlgc failed or built a tensor-core variant: $(cat "$TMP/err")"
  failed=$((failed + 1))
fi
# The configurations over 48 KiB (docs/performance.md, "Tensor cores").
if [ "$refused" -ne 14 ]; then
  echo "FAIL: $refused configurations refused for their local memory (expected 14)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
