#!/usr/bin/env bash
# tools/gpu/drivers.sh — sourced by the scripts of tools/gpu/ on a machine with an NVIDIA GPU (see
# ../shared/GPU.md): registers NVIDIA's OpenCL driver and makes its Vulkan driver loadable.
# NVIDIA's OpenCL ICD is installed but not registered on the lent machine.
if [ -e /usr/local/nvidia/lib64/libnvidia-opencl.so.1 ]; then
  mkdir -p /etc/OpenCL/vendors
  echo /usr/local/nvidia/lib64/libnvidia-opencl.so.1 >/etc/OpenCL/vendors/nvidia.icd
fi
# The Vulkan loader and GL dispatch libraries travel as Debian packages in .gl/.
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
[ -e /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] &&
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] &&
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
true
