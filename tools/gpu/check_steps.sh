# tools/gpu/check_steps.sh — sourced by the GPU check scripts (mma_check.sh, attention_check.sh)
# after they set BUILD and OUT: makes OUT absolute, sets up the drivers (drivers.sh), the
# library path and a program cache of OUT's own, clears MLG_DISABLE_FEATURES, and defines
# `step`, which runs one command with a timeout into OUT/NAME.log and adds a line to SUMMARY.
# shellcheck shell=bash
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# shellcheck source=tools/gpu/drivers.sh
. "$(dirname "${BASH_SOURCE[0]}")/drivers.sh"
export LD_LIBRARY_PATH="$PWD/$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MLG_CACHE_DIR="$OUT/cache"
unset MLG_DISABLE_FEATURES
SUMMARY=()

# step NAME TIMEOUT CMD...: runs CMD with a timeout, its output in OUT/NAME.log, one summary line
# (with the log's last Check tally, run.py line or attention_check comparison).
step() {
  local name=$1 limit=$2
  shift 2
  echo "-- $name: $*"
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  local tail_line
  tail_line=$(grep -E '^[0-9]+%: Checks|^bench:|^compare:' "$OUT/$name.log" | tail -n 1)
  if [ $rc -eq 0 ]; then
    SUMMARY+=("ok      $name ${tail_line:+($tail_line)}")
  elif [ $rc -eq 124 ]; then
    SUMMARY+=("TIMEOUT $name after ${limit}s (log: $OUT/$name.log)")
  else
    SUMMARY+=("FAILED  $name rc=$rc ${tail_line:+($tail_line)} (log: $OUT/$name.log)")
  fi
}
