#!/usr/bin/env bash
# tools/onnx_tests.sh — fetches the ONNX backend node tests once, for the conformance suite
# (tests/unit/test_onnx_conformance.c, docs/onnx.md#conformance).
#
#   tools/onnx_tests.sh [DEST]      DEST defaults to .cache/onnx-node-tests (git-ignored)
#
# The tests are data inside the onnx wheel on PyPI (onnx/backend/test/data/node/<test>/:
# model.onnx and test_data_set_0/{input,output}_N.pb). This downloads the wheel of
# MLG_ONNX_TESTS_VERSION (default 1.20.1) with pip, unpacks only that folder and writes
# DEST/VERSION; with DEST/VERSION already naming that version it does nothing. Nothing is
# committed and nothing of Python is needed to run the tests. Exits non-zero (with the reason)
# when the wheel cannot be fetched.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/.cache/onnx-node-tests}
VERSION=${MLG_ONNX_TESTS_VERSION:-1.20.1}

if [ -f "$DEST/VERSION" ] && [ "$(cat "$DEST/VERSION")" = "$VERSION" ] && [ -d "$DEST/node" ]; then
  echo "onnx tests: $DEST has the node tests of onnx $VERSION"
  exit 0
fi
if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
  echo "onnx tests: python3 with pip is needed to fetch the onnx $VERSION wheel" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "onnx tests: fetching the onnx $VERSION wheel from PyPI (its backend node tests only)"
if ! python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "onnx==$VERSION"; then
  echo "onnx tests: pip could not download onnx==$VERSION" >&2
  exit 1
fi
rm -rf "$DEST.partial"
mkdir -p "$DEST.partial"
python3 - "$tmp" "$DEST.partial" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "onnx-*.whl"))[0]
prefix = "onnx/backend/test/data/node/"
n = 0
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith(prefix) or info.is_dir():
            continue
        rel = info.filename[len(prefix):]
        if ".." in rel.split("/"):
            continue
        out = os.path.join(sys.argv[2], "node", rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(info) as src, open(out, "wb") as dst:
            dst.write(src.read())
        n += 1
print(f"onnx tests: {n} files unpacked")
PY
echo "$VERSION" > "$DEST.partial/VERSION"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "onnx tests: ready in $DEST"
