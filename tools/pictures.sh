#!/usr/bin/env bash
# tools/pictures.sh BUILD_DIR [OUT_DIR] — draws the pictures the docs show, with the tools:
#   OUT_DIR/resnet_block.graph.svg  mlgc models/resnet_block.mlg --emit=dot, rendered by Graphviz
#   OUT_DIR/resnet_block.plan.svg   mlgc models/resnet_block.mlg --emit=plan --svg
# OUT_DIR defaults to docs/images. tests/suite_pictures.sh draws them again and compares, so run
# this (and commit the result) when the compiler's fusion or memory plan changes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:?usage: tools/pictures.sh BUILD_DIR [OUT_DIR]}" && pwd)
OUT=${2:-$ROOT/docs/images}
mkdir -p "$OUT"
cd "$ROOT"  # relative paths: nothing of this machine in the pictures
"$BUILD/bin/mlgc" models/resnet_block.mlg --emit=dot | dot -Tsvg -o "$OUT/resnet_block.graph.svg"
"$BUILD/bin/mlgc" models/resnet_block.mlg --emit=plan --svg "$OUT/resnet_block.plan.svg" >/dev/null
