#!/usr/bin/env bash
# tests/suite_cli.sh BUILD_DIR SOURCE_DIR — a new user's session with the tools: the mistakes
# people make first, each answered with what to do instead.
#   --device ''             lists every form of spec and the devices (exit 2)
#   --device vulkan         means vulkan:0
#   PoCL's serial and threaded devices: cpu is the threaded one; a small model moves to the
#   serial one unless a device is named
#   -D n=4 for dim N        suggests N
#   a .mlg to the bundle loader (the embedding example) says to compile it or use mlgrun
#   weights whose names match no param: a warning listing them (here besides shape errors)
#   --limits on a device without an OpenCL twin: says what it cannot measure, prints no zeros
#   --no-winograd given for a bundle: says it is chosen when mlgc compiles
#   --profile twice: the second takes the cached copy bandwidth; with a preparation, its line
#   a full disk (the file size limit, as ulimit -f): mlgc and mlgrun fail with the reason and
#   leave no cut file; an old bundle stays whole (mlgc wrote part of a bundle and exited 0)
set -uo pipefail
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlg-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
export MLG_CACHE_DIR="$TMP/cache"
passed=0
failed=0
# expect NAME STATUS TEXT CMD...: CMD exits with STATUS and its output holds TEXT.
expect() {
  local name=$1 status=$2 text=$3
  shift 3
  "$@" >"$TMP/out" 2>&1
  local rc=$?
  if [ "$rc" -eq "$status" ] && grep -qF -- "$text" "$TMP/out"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $name: exit $rc (want $status), output lacks '$text':"
    sed 's/^/    /' "$TMP/out" | head -n 20
  fi
}
# absent NAME TEXT: the last command's output does not hold TEXT.
absent() {
  if grep -qF -- "$2" "$TMP/out"; then
    failed=$((failed + 1)); echo "FAIL: $1: output holds '$2'"; sed 's/^/    /' "$TMP/out" | head -n 20
  else
    passed=$((passed + 1))
  fi
}

cd "$SRC" || exit 2
MLGC="$BUILD/bin/mlgc"
MLGRUN="$BUILD/bin/mlgrun"

expect "empty --device" 2 "opencl, vulkan  device 0 of that backend" "$MLGRUN" models/mlp.mlg --device ""
expect "empty --device lists devices" 2 "vulkan:0 " "$MLGRUN" models/mlp.mlg --device=
expect "--device vulkan" 0 "on vulkan:0 (" "$MLGRUN" models/mlp.mlg --device vulkan --no-outputs
# With PoCL's serial device listed beside its threaded one: "cpu" is the threaded one (the most
# compute units), and a small model moves to the serial one unless a device is named.
expect "small model: the serial CPU device" 0 "on the serial CPU device opencl:0" \
  env POCL_DEVICES="pthread basic" "$MLGRUN" models/mlp.mlg --device cpu --no-outputs
expect "small model runs on basic" 0 "(basic-" env POCL_DEVICES="pthread basic" "$MLGRUN" models/mlp.mlg --no-outputs
expect "large model: the threaded CPU device" 0 "on opencl:1 (pthread-" \
  env POCL_DEVICES="pthread basic" "$MLGRUN" models/mlp.mlg -D N=64 --device cpu --no-outputs
absent "large model: no serial device" "serial CPU device"
expect "a named device stays" 0 "on opencl:1 (pthread-" \
  env POCL_DEVICES="pthread basic" "$MLGRUN" models/mlp.mlg --device opencl:1 --no-outputs
absent "a named device: no serial device" "serial CPU device"
expect "-D n for N" 1 "-D n: the model has no dim 'n'; did you mean 'N'?" "$MLGC" models/mlp.mlg -D n=4
expect "source to the bundle loader" 1 "is mlg source (.mlg), not a compiled bundle (.mlgb)" \
  env MLG_DEVICE=opencl:0 "$BUILD/bin/mlg_embed_example" models/mlp.mlg
expect "weights that match no param" 1 "tests/data/tf_weights.safetensors: 2 tensors match no param of the model and are ignored: 'scale', 'steps'" \
  "$MLGC" models/mlp.mlg --weights tests/data/tf_weights.safetensors -o "$TMP/mlp.mlgb"
expect "relu6" 1 "in mlg it is clamp(x, 0, 6)" "$MLGC" tests/diag/op_foreign_name.mlg

# --precision: its values, where it applies, and what f16 refuses.
expect "--precision=f8" 2 "unknown precision 'f8' (expected f32 or f16)" "$MLGC" models/mlp.mlg --precision=f8
expect "--precision without a value" 2 "--precision needs f32 or f16" "$MLGC" models/mlp.mlg --precision
expect "mlgrun --precision bad" 2 "unknown precision 'half' (expected f32 or f16)" \
  "$MLGRUN" models/mlp.mlg --precision half
"$MLGC" models/mlp.mlg -o "$TMP/mlp32.mlgb" && "$MLGC" models/mlp.mlg --precision=f16 -o "$TMP/mlp16.mlgb"
expect "mlgrun --precision on a bundle" 2 "--precision applies to .mlg and .onnx sources" \
  "$MLGRUN" "$TMP/mlp16.mlgb" --precision f16
expect "mlgrun --no-winograd on a bundle" 2 "--no-winograd applies to .mlg and .onnx sources" \
  "$MLGRUN" "$TMP/mlp32.mlgb" --no-winograd
expect "f16 refuses a train step" 1 "--precision=f16 compiles models without a train step" \
  "$MLGC" tests/fixtures/train_sgd/model.mlg --precision=f16 -o "$TMP/train16.mlgb"
# The f16 bundle holds the weights in half the bytes (the kernels and tables stay).
size32=$(stat -c %s "$TMP/mlp32.mlgb") size16=$(stat -c %s "$TMP/mlp16.mlgb")
if [ "$size16" -lt $((size32 * 6 / 10)) ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL: f16 bundle: $size16 bytes, f32 $size32"; fi
expect "f16 bundle runs with f32 weights" 0 "probs: f32[1, 10]" "$MLGRUN" "$TMP/mlp16.mlgb" --device opencl:0 \
  --weights tests/models/mlp/weights.safetensors --no-outputs

expect "--limits without an OpenCL twin" 0 "limits: peak unknown, copy not measured" \
  "$MLGRUN" --limits --device vulkan:0 --copy-mib 4
absent "--limits without an OpenCL twin: no zeros" "0.0 G"
expect "--limits without an OpenCL twin: why" 0 "has no OpenCL twin" "$MLGRUN" --limits --device vulkan:0 --copy-mib 4

expect "--profile measures" 0 "measured now)" "$MLGRUN" models/mlp.mlg --device opencl:0 --profile --copy-mib 4 --no-outputs
expect "--profile again: cached" 0 "; cached in $MLG_CACHE_DIR/copy-bandwidth-" \
  "$MLGRUN" models/mlp.mlg --device opencl:0 --profile --copy-mib 4 --no-outputs
expect "--limits measures again" 0 "measured now)" "$MLGRUN" --limits --device opencl --copy-mib 4
# A CPU-class LeNet packs its weights once per session: the profile counts them apart.
expect "--profile: the preparation" 0 "prepared once, when the session started (not in the run): 2 dispatches" \
  "$MLGRUN" models/lenet.mlg --device opencl:0 --profile --copy-mib 4 --no-outputs

# A full disk, as the file size limit: with SIGXFSZ ignored a write past it fails (EFBIG).
full_disk() { (trap '' XFSZ; ulimit -f 8; "$@"); }
# same NAME A B: files A and B are equal.
same() {
  if cmp -s "$2" "$3"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1: $2 differs from $3"; fi
}
# none NAME GLOB...: no file matches.
none() {
  local name=$1
  shift
  if [ -e "$1" ]; then failed=$((failed + 1)); echo "FAIL: $name: left behind: $*"; else passed=$((passed + 1)); fi
}
"$MLGC" models/mlp.mlg -o "$TMP/old.mlgb" && cp "$TMP/old.mlgb" "$TMP/full.mlgb"
expect "full disk: mlgc" 1 "mlgc: error: cannot write '$TMP/full.mlgb': File too large" \
  full_disk "$MLGC" models/mlp.mlg -O0 -o "$TMP/full.mlgb"
same "full disk: the old bundle stays whole" "$TMP/old.mlgb" "$TMP/full.mlgb"
none "full disk: no temporary file" "$TMP"/full.mlgb.tmp.*
expect "full disk: mlgc --emit" 1 "mlgc: error: cannot write '$TMP/new/kernels.cl': File too large" \
  full_disk "$MLGC" models/resnet_block.mlg --emit=kernels -o "$TMP/new/kernels.cl"
none "full disk: no cut text" "$TMP/new/kernels.cl"
# Warm PoCL's own cache first: the driver's LLVM exits on a write past the limit.
"$MLGRUN" models/mlp.mlg --device opencl:0 -D N=512 --no-outputs >/dev/null 2>&1
expect "full disk: mlgrun" 1 "mlgrun: error: writing output 'probs': $TMP/outs/probs.npy: cannot write: File too large" full_disk "$MLGRUN" models/mlp.mlg --device opencl:0 \
  -D N=512 --output-dir "$TMP/outs"
none "full disk: no cut .npy" "$TMP"/outs/*.npy

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
