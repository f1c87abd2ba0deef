# shellcheck shell=bash
# tools/deps.sh — Debian package checks shared by tools/setup.sh and tools/test.sh.
# Source it (". tools/deps.sh"); it defines functions and changes nothing by itself.

# Packages the build, the tests and the examples need on Debian 12. The Vulkan ones
# (libshaderc-dev, libvulkan-dev, mesa-vulkan-drivers) are for the Vulkan backend; the ONNX
# importer parses with protobuf-c, its C code generated from libonnx-dev's onnx/onnx.proto.
# shellcheck disable=SC2034  # used by the scripts that source this file
MLG_DEBIAN_PACKAGES=(
  build-essential cmake pkg-config re2c lemon check
  ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  libshaderc-dev libvulkan-dev mesa-vulkan-drivers
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev
)
# Only the tests need these: clang (tools/test.sh builds with it too), the Khronos validation
# layer that tests/unit/test_vulkan.c runs every Vulkan device under, Graphviz and xmllint to
# render and parse mlgc's pictures (tests/suite_pictures.sh), and Debian's Python with NumPy,
# setuptools and wheel to build and test the Python package in a virtual environment.
# shellcheck disable=SC2034
MLG_TEST_PACKAGES=(clang vulkan-validationlayers graphviz libxml2-utils
                   python3 python3-venv python3-numpy python3-setuptools python3-wheel)

# Prints the names among "$@" that are not installed (dpkg status "install ok installed").
mlg_missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
      printf '%s\n' "$pkg"
    fi
  done
}

# Installs whichever of "$@" are missing; does nothing (no apt-get update) when all are there.
# Uses sudo only when not root. Returns non-zero if installation fails.
mlg_install_packages() {
  local missing sudo=()
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: dpkg-query not found; this script expects Debian 12. Install by hand: $*" >&2
    return 1
  fi
  mapfile -t missing < <(mlg_missing_packages "$@")
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "deps: all ${#} packages already installed"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "deps: missing packages (${missing[*]}) and not root, and sudo is not available" >&2
      return 1
    fi
    sudo=(sudo)
  fi
  echo "deps: installing ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
