#!/usr/bin/env bash
# tools/setup.sh — from a fresh Debian 12 machine to a running example.
#   1. installs the Debian packages mlg needs that are missing (apt-get only when something is),
#   2. configures and builds into build/ (RelWithDebInfo, no sanitizers),
#   3. runs models/mlp.mlg with mlgrun (or, while mlgrun cannot run it yet, prints its graph).
# Safe to run again: each step does only what is not done yet.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build"
JOBS=$(nproc 2>/dev/null || echo 2)
cd "$ROOT"
# shellcheck source=tools/deps.sh
. "$ROOT/tools/deps.sh"

echo "== setup: packages"
mlg_install_packages "${MLG_DEBIAN_PACKAGES[@]}"

echo "== setup: build ($BUILD)"
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLG_SANITIZE=OFF
fi
cmake --build "$BUILD" -j"$JOBS"

echo "== setup: example"
MODEL=models/mlp.mlg
if [ -x "$BUILD/bin/mlgrun" ] && "$BUILD/bin/mlgrun" "$MODEL" >"$BUILD/setup-mlgrun.log" 2>&1; then
  echo "ran: build/bin/mlgrun $MODEL"
  cat "$BUILD/setup-mlgrun.log"
else
  if [ -x "$BUILD/bin/mlgrun" ]; then
    echo "note: build/bin/mlgrun $MODEL did not run yet (output below); showing the graph instead" >&2
    sed 's/^/  mlgrun: /' "$BUILD/setup-mlgrun.log" >&2
  fi
  echo "ran: build/bin/mlgc $MODEL --emit=graph"
  "$BUILD/bin/mlgc" "$MODEL" --emit=graph
fi
echo "== setup: done. Run tools/test.sh for the test suites."
