#!/usr/bin/env bash
# tools/fuzz.sh — builds the libFuzzer harnesses (tests/fuzz/) and runs them, one at a time.
#
#   tools/fuzz.sh [--seconds N] [--build DIR] [--no-build] [--seeds-only] [--jobs J] [NAME...]
#   tools/fuzz.sh --seeds [--build DIR]
#
# NAME is one of: mlg bundle_read bundle_load_opencl bundle_load_vulkan npy safetensors tuning onnx
# (default: all). Each runs for N seconds (default 600) at nice 19, from its committed seeds
# (tests/fuzz/corpus/NAME) and a working corpus that grows in DIR/fuzz-corpus/NAME; what it
# finds (crash-*, leak-*, timeout-*, oom-*) goes to DIR/fuzz-artifacts/NAME. The last lines give,
# per harness, the executions, the coverage (cov: edges, ft: features) and the corpus size.
# DIR defaults to build-fuzz/, configured with clang, -DMLG_FUZZ=ON (ASan, UBSan and coverage
# everywhere); --no-build uses DIR as it is. --seeds-only starts from the committed seeds alone
# (the working corpus is a fresh folder, dropped after): tools/test.sh runs its clang build this
# way, a few seconds per harness. Exits non-zero when a harness finds anything.
#
# --seeds rewrites tests/fuzz/corpus/ from the example models, the seed models in
# tests/fuzz/seeds/ (compiled by DIR's mlgc for both targets), the tensor-file test data, two
# tuning tables and small ONNX models (tools/gen_fuzz_onnx_seeds.py, and the smaller models of
# tests/onnx/).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL=(mlg bundle_read bundle_load_opencl bundle_load_vulkan npy safetensors tuning onnx)
seconds=600
build="$ROOT/build-fuzz"
do_build=1
seeds=0
seeds_only=0
jobs=${MLG_TEST_JOBS:-2}
names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --build) build=$(realpath -m "$2"); shift 2 ;;
    --build=*) build=$(realpath -m "${1#*=}"); shift ;;
    --no-build) do_build=0; shift ;;
    --seeds-only) seeds_only=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
  case " ${ALL[*]} " in *" $n "*) ;; *) echo "fuzz.sh: unknown harness '$n' (${ALL[*]})" >&2; exit 2 ;; esac
done

if [ "$do_build" = 1 ]; then
  CC=clang cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLG_FUZZ=ON \
    -DMLG_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build" -j"$jobs" --target fuzzers mlgc
fi

export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
corpus="$ROOT/tests/fuzz/corpus"

if [ "$seeds" = 1 ]; then
  mlgc="$build/bin/mlgc"
  rm -rf "$corpus"
  mkdir -p "$corpus"/{mlg,bundle_read,bundle_load_opencl,bundle_load_vulkan,npy,safetensors,tuning,onnx}
  cp "$ROOT"/models/*.mlg "$ROOT"/tests/fuzz/seeds/*.mlg "$corpus/mlg/"
  for f in "$ROOT"/tests/diag/*.mlg; do cp "$f" "$corpus/mlg/diag_$(basename "$f")"; done
  for m in "$ROOT"/tests/fuzz/seeds/*.mlg; do
    b=$(basename "$m" .mlg)
    "$mlgc" "$m" -o "$corpus/bundle_load_opencl/$b.mlgb"
    "$mlgc" "$m" -O0 -o "$corpus/bundle_load_opencl/${b}_O0.mlgb"
    "$mlgc" "$m" --device-hint=cpu -o "$corpus/bundle_load_opencl/${b}_cpu.mlgb" # prepare dispatches
    "$mlgc" "$m" --no-weights -o "$corpus/bundle_read/${b}_noweights.mlgb"
    "$mlgc" "$m" --target vulkan -o "$corpus/bundle_load_vulkan/${b}_vk.mlgb"
    "$mlgc" "$m" --target vulkan --subgroups=off -o "$corpus/bundle_load_vulkan/${b}_vk_nosubgroups.mlgb"
  done
  cp "$corpus"/bundle_load_opencl/*.mlgb "$corpus"/bundle_load_vulkan/*.mlgb "$corpus/bundle_read/"
  cp "$ROOT"/tests/data/*.npy "$ROOT"/tests/data/bad/*.npy "$corpus/npy/"
  cp "$ROOT"/tests/data/*.safetensors "$ROOT"/tests/data/bad/*.safetensors "$corpus/safetensors/"
  python3 - "$corpus/tuning" <<'PY'
import sys
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xffffffffffffffff
    return h
tables = {
    "gpu.txt": "mlg-gemm-tuning 3\ndevice NVIDIA H100 80GB HBM3\ndriver 550.54.15\nbackend opencl\n"
               "huge 128 128 16 8 8 41000.0\nlarge 128 64 16 8 4 21000.5\nmedium 64 64 16 4 4 3100.2\n"
               "mma huge 8 98000.0\nmma large 13 61000.5\n",
    "cpu.txt": "mlg-gemm-tuning 3\ndevice pthread-skylake-avx512-AMD EPYC\ndriver 3.1\nbackend vulkan\n"
               "medium 32 32 8 4 4 96.0\n",
}
for name, body in tables.items():
    text = body + "end %016x\n" % fnv(body.encode())
    open(sys.argv[1] + "/" + name, "w").write(text)
PY
  python3 "$ROOT/tools/gen_fuzz_onnx_seeds.py" --corpus "$corpus/onnx" --hostile "$ROOT/tests/data/hostile" >/dev/null
  for m in mobilenet unsupported; do cp "$ROOT/tests/onnx/$m/model.onnx" "$corpus/onnx/$m.onnx"; done
  echo "fuzz.sh: seeds written to $corpus"
  exit 0
fi

status=0
summary=()
for n in "${names[@]}"; do
  binary="$build/bin/fuzz_$n"
  env=()
  timeout=60
  case "$n" in
    # The drivers' own leaks are suppressed by library (tests/lsan.supp): a full unwind through
    # their frames (built without frame pointers) lets the suppressions see them. A mutation
    # that changes a kernel's code is a cold build in the driver's compiler: PoCL took 82 s
    # for one on this 2-core machine under load, so the loader gets 5 minutes per input.
    bundle_load_opencl) binary="$build/bin/fuzz_bundle_load" timeout=300
      env=(MLG_FUZZ_DEVICE=opencl:0 ASAN_OPTIONS=fast_unwind_on_malloc=0) ;;
    bundle_load_vulkan) binary="$build/bin/fuzz_bundle_load" timeout=300
      env=(MLG_FUZZ_DEVICE=vulkan:0 ASAN_OPTIONS=fast_unwind_on_malloc=0
           LSAN_OPTIONS="suppressions=$ROOT/tests/fuzz/lsan_lavapipe.supp:print_suppressions=0") ;;
  esac
  work="$build/fuzz-corpus/$n"
  [ "$seeds_only" = 1 ] && work=$(mktemp -d "$build/fuzz-smoke-$n.XXXXXX")
  artifacts="$build/fuzz-artifacts/$n"
  mkdir -p "$work" "$artifacts"
  log="$build/fuzz-$n.log"
  echo "== fuzz: $n for ${seconds}s ($binary)"
  # -rss_limit_mb: the harnesses hold inputs of at most a few MB; a PoCL build needs some room.
  # The program cache for the loader lives in the build folder, warm across runs.
  # Inputs that once crashed a harness (tests/fuzz/regress/NAME/, also run by test_fuzz) are
  # read as seeds too.
  regress=()
  [ -d "$ROOT/tests/fuzz/regress/$n" ] && regress=("$ROOT/tests/fuzz/regress/$n")
  set +e
  env "${env[@]}" MLG_FUZZ_CACHE="$build/fuzz-cache" nice -n 19 "$binary" -max_total_time="$seconds" \
    -rss_limit_mb=4096 -timeout="$timeout" -print_final_stats=1 -artifact_prefix="$artifacts/" \
    "$work" "$corpus/$n" "${regress[@]}" >"$log" 2>&1
  rc=$?
  set -e
  [ "$seeds_only" = 1 ] && rm -rf "$work"
  # "#123456 DONE cov: 1234 ft: 5678 corp: 90/12Kb ... exec/s: 400 rss: 300Mb"
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
  execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
  line="$n: ${execs:-?} executions in ${seconds}s; ${done_line:-no DONE line}"
  if [ "$rc" -ne 0 ]; then
    status=1
    line="$line — FAILED (exit $rc; see $log and $artifacts)"
    grep -E 'ERROR|SUMMARY|Assertion|abort' "$log" | head -n 5 | sed 's/^/    /' >&2 || true
  fi
  echo "$line"
  summary+=("$line")
done
echo
printf '%s\n' "${summary[@]}"
exit "$status"
