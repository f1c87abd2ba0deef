"""mlg — compile mlg models and run them on OpenCL and Vulkan devices, NumPy in and out.

    import mlg
    m = mlg.load("models/mlp.mlg", device="opencl:0", dims={"N": 4})
    out = m.run(x=np.zeros((4, 784), np.float32))     # {"probs": ndarray}
    mlg.compile("models/mlp.mlg", "mlp.mlgb", target="vulkan")
    mlg.devices()

The reference is docs/python.md in the repository.
"""
from ._api import (CompileWarning, Device, Error, Model, TensorInfo, compile, devices, load,
                   version)

__version__ = version()
__all__ = ["CompileWarning", "Device", "Error", "Model", "TensorInfo", "compile", "devices",
           "load", "version"]
