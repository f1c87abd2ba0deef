"""Builds the mlg package: CMake builds libmlgrt and libmlgc from the checkout this folder sits
in, and both are copied into the package (mlg/_lib/), so that the installed package needs
nothing else from the checkout.

    pip install ./python                                    # from the repository's root
    pip install --no-build-isolation ./python               # with Debian's setuptools and wheel

Environment: MLG_CMAKE_BUILD_DIR, a CMake build folder to build in (and reuse) instead of
python/build/cmake; an existing one is built as it is configured. MLG_BUILD_JOBS, the parallel
jobs (default: the CPU count).
"""
import os
import re
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = os.path.join(ROOT, "runtime", "include", "mlg.h")


def version():
    """MAJOR.MINOR.PATCH from mlg.h, where the version is written once."""
    try:
        with open(HEADER, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        sys.exit("mlg: %s not found: build the package from a checkout of mlg "
                 "(pip install ./python at the repository's root)" % HEADER)
    parts = [re.search(r"^#define MLG_VERSION_%s (\d+)$" % k, text, re.M) for k in
             ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        sys.exit("mlg: no MLG_VERSION_MAJOR/MINOR/PATCH in %s" % HEADER)
    return ".".join(p.group(1) for p in parts)


class BuildWithLibraries(build_py):
    """build_py, then CMake's libmlgrt, libmlgc and libmlgspirv into the package's _lib folder."""

    def run(self):
        super().run()
        build = os.environ.get("MLG_CMAKE_BUILD_DIR") or os.path.join(HERE, "build", "cmake")
        build = os.path.abspath(build)
        jobs = os.environ.get("MLG_BUILD_JOBS") or str(os.cpu_count() or 2)
        if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            self.spawn(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                        "-DMLG_BUILD_TESTS=OFF", "-DMLG_SANITIZE=OFF"])
        with open(os.path.join(build, "CMakeCache.txt"), encoding="utf-8") as f:
            if re.search(r"^MLG_SANITIZE:BOOL=ON$", f.read(), re.M):
                sys.exit("mlg: %s is a sanitizer build; its libraries cannot be loaded into "
                         "Python (use a build without MLG_SANITIZE)" % build)
        self.spawn(["cmake", "--build", build, "-j", jobs, "--target", "mlgrt", "mlgc_shared", "mlgspirv"])
        libdir = os.path.join(build, "lib")
        dest = os.path.join(self.build_lib, "mlg", "_lib")
        os.makedirs(dest, exist_ok=True)
        # libmlgrt under its SONAME (libmlgrt.so.MAJOR.MINOR), the name libmlgc asks for.
        runtime = sorted((n for n in os.listdir(libdir) if n.startswith("libmlgrt.so.")), key=len)
        if not runtime:
            sys.exit("mlg: the CMake build made no libmlgrt.so.* in %s" % libdir)
        # libmlgspirv.so: the SPIR-V validator libmlgrt opens beside itself for Vulkan bundles.
        for name in (runtime[0], "libmlgc.so", "libmlgspirv.so"):
            shutil.copyfile(os.path.join(libdir, name), os.path.join(dest, name))


class BinaryDistribution(Distribution):
    """The package carries native libraries: a platform wheel, not a pure-Python one."""

    def has_ext_modules(self):
        return True


setup(version=version(), cmdclass={"build_py": BuildWithLibraries}, distclass=BinaryDistribution)
