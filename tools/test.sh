#!/usr/bin/env bash
# tools/test.sh — builds mlg with sanitizers and runs every test suite.
#   1. installs missing Debian packages (tools/deps.sh, with the test-only ones),
#   2. builds build-test/ with gcc, ASan+UBSan and -Werror, fetches the ONNX backend node tests
#      once (tools/onnx_tests.sh, into .cache/), and runs all suites with ctest,
#   3. builds build-clang/ with clang and -Werror, and with the libFuzzer harnesses (MLG_FUZZ:
#      ASan, UBSan and coverage everywhere), so clang warnings fail too; runs each harness for a
#      few seconds on its seeds (tools/fuzz.sh; MLG_FUZZ_SECONDS, default 4),
#   4. builds build-tsan/ with ThreadSanitizer (the runtime and test_concurrency only) and runs
#      concurrent runtimes, loads and sessions under it (suppressions: tests/tsan.supp),
#   5. installs the Python package (pip install ./python, which builds its libraries with CMake
#      in python/build/cmake/) into a fresh virtual environment and runs tests/python/,
#   6. prints "N passed, N failed" as its last line; exits non-zero on any failure.
# MLG_UPDATE_GOLDEN=1 tools/test.sh rewrites the golden files instead of comparing them.
# Environment: MLG_TEST_JOBS (default 2), MLG_TEST_TIMEOUT (seconds per test, default 900).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
JOBS=${MLG_TEST_JOBS:-2}
TIMEOUT=${MLG_TEST_TIMEOUT:-900}
cd "$ROOT"
# shellcheck source=tools/deps.sh
. "$ROOT/tools/deps.sh"

echo "== test: packages"
mlg_install_packages "${MLG_DEBIAN_PACKAGES[@]}" "${MLG_TEST_PACKAGES[@]}"

# Sanitizer behaviour for every test process: stop at the first error with a stack trace.
# Leaks inside the OpenCL driver (PoCL, LLVM) are suppressed by library; see tests/lsan.supp.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
# Keep the runtime's program-binary cache inside the build tree, not in ~/.cache. PoCL's own
# kernel cache stays where PoCL puts it (~/.cache/pocl): with it cold, PoCL's compiles make the
# suite several times slower.
export MLG_CACHE_DIR="${MLG_CACHE_DIR:-$ROOT/build-test/program-cache}"

passed=0
failed=0
failures=()
summary() {
  echo
  if [ "${#failures[@]}" -gt 0 ]; then
    echo "failed: ${failures[*]}"
  fi
  echo "$passed passed, $failed failed"
}

# --- gcc + sanitizers: build and run every suite ---------------------------------------------
echo "== test: gcc build with ASan+UBSan (build-test/)"
gcc_ok=1
if ! CC=gcc cmake -S "$ROOT" -B "$ROOT/build-test" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DMLG_SANITIZE=ON -DMLG_WERROR=ON -DMLG_BUILD_TESTS=ON >/dev/null ||
   ! cmake --build "$ROOT/build-test" -j"$JOBS"; then
  gcc_ok=0
  failed=$((failed + 1))
  failures+=("gcc-build")
fi

if [ "$gcc_ok" = 1 ]; then
  # The ONNX backend node tests (test_onnx_conformance), fetched once into .cache/. If they
  # cannot be fetched, that suite fails and says so; the others still run.
  echo "== test: ONNX backend node tests"
  bash "$ROOT/tools/onnx_tests.sh" || echo "test: could not fetch the ONNX node tests; test_onnx_conformance will fail" >&2
  echo "== test: ctest (-j$JOBS, ${TIMEOUT}s per test)"
  log="$ROOT/build-test/ctest.log"
  set +e
  ctest --test-dir "$ROOT/build-test" --output-on-failure -j"$JOBS" --timeout "$TIMEOUT" \
        </dev/null 2>&1 | tee "$log"
  set -e
  # "100% tests passed, 0 tests failed out of 12"
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
  if [ -n "$line" ]; then
    n_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    n_total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    passed=$((passed + n_total - n_failed))
    failed=$((failed + n_failed))
    while read -r name; do
      failures+=("$name")
    done < <(sed -nE 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(.*/\1/p' "$log")
  else
    echo "test: ctest found no tests or did not finish" >&2
    failed=$((failed + 1))
    failures+=("ctest")
  fi
fi

# --- clang: warnings are errors; the fuzzers, a few seconds each ------------------------------
echo "== test: clang build with -Werror and the fuzzers (build-clang/)"
clang_ok=0
if CC=clang cmake -S "$ROOT" -B "$ROOT/build-clang" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DMLG_SANITIZE=OFF -DMLG_FUZZ=ON -DMLG_WERROR=ON -DMLG_BUILD_TESTS=ON >/dev/null &&
   cmake --build "$ROOT/build-clang" -j"$JOBS"; then
  passed=$((passed + 1))
  clang_ok=1
else
  failed=$((failed + 1))
  failures+=("clang-build")
fi
if [ "$clang_ok" = 1 ]; then
  echo "== test: fuzz smoke runs (tools/fuzz.sh, ${MLG_FUZZ_SECONDS:-4}s each)"
  for h in mlg bundle_read bundle_load_opencl bundle_load_vulkan npy safetensors tuning onnx; do
    if "$ROOT/tools/fuzz.sh" --build "$ROOT/build-clang" --no-build --seeds-only --seconds "${MLG_FUZZ_SECONDS:-4}" "$h" |
         tail -n 1; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      failures+=("fuzz-$h")
    fi
  done
fi

# --- ThreadSanitizer: concurrent runtimes, loads and sessions ---------------------------------
# The runtime and test_concurrency only (it links libmlgrt alone; its bundles come from the gcc
# build's mlgc), so this build takes seconds. Races inside the drivers: tests/tsan.supp.
echo "== test: ThreadSanitizer (build-tsan/, test_concurrency)"
if [ "$gcc_ok" = 1 ] &&
   CC=gcc cmake -S "$ROOT" -B "$ROOT/build-tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLG_TSAN=ON \
       -DMLG_WERROR=ON -DMLG_BUILD_TESTS=ON >/dev/null &&
   cmake --build "$ROOT/build-tsan" -j"$JOBS" --target test_concurrency >/dev/null &&
   (cd "$ROOT/build-tsan" && env -u ASAN_OPTIONS -u LSAN_OPTIONS MLG_TEST_MLGC="$ROOT/build-test/bin/mlgc" \
      MLG_CACHE_DIR="$ROOT/build-tsan/program-cache" CK_DEFAULT_TIMEOUT=600 \
      TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1" \
      ./bin/test_concurrency); then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  failures+=("tsan")
fi

# --- Python: the package as pip installs it, in a virtual environment ------------------------
# Debian's python3 with its NumPy, setuptools and wheel (--system-site-packages,
# --no-build-isolation): nothing is downloaded. The tests run from outside the checkout, so
# they import the installed package, and compare it with the mlgrun built beside its libraries.
echo "== test: Python package (pip install ./python, build-test/venv)"
PY=${MLG_PYTHON:-/usr/bin/python3}
venv="$ROOT/build-test/venv"
if "$PY" -m venv --clear --system-site-packages "$venv" &&
   "$venv/bin/pip" install --quiet --no-index --no-build-isolation "$ROOT/python" &&
   cmake --build "$ROOT/python/build/cmake" --target mlgrun -j"$JOBS" >/dev/null &&
   (cd "$ROOT/build-test" && MLG_TEST_MLGRUN="$ROOT/python/build/cmake/bin/mlgrun" \
      "$venv/bin/python" "$ROOT/tests/python/test_mlg.py" -v); then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  failures+=("python")
fi

summary
[ "$failed" -eq 0 ]
