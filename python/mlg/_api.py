"""The Python face of libmlgrt and libmlgc (docs/python.md)."""
import collections
import ctypes
import os
import threading
import warnings

import numpy as np

from . import _native as N
from ._weights import WeightsFile

# Each mlg dtype and the NumPy dtype whose bytes the runtime takes and gives (mlg.h: f16 as
# binary16, bool as a 0/1 byte, i64 as int64 that must fit in 32 bits).
_DTYPES = {N.DTYPE_F32: np.dtype(np.float32), N.DTYPE_I32: np.dtype(np.int32),
           N.DTYPE_BOOL: np.dtype(np.bool_), N.DTYPE_I64: np.dtype(np.int64),
           N.DTYPE_F16: np.dtype(np.float16), N.DTYPE_I8: np.dtype(np.int8),
           N.DTYPE_U8: np.dtype(np.uint8)}
_BUNDLE_MAGIC = b"MLGB"
_INVALID_ARGUMENT = 1  # mlg_status MLG_ERR_INVALID_ARGUMENT, for mistakes found here


class Error(Exception):
    """A failure of the compiler or the runtime, with its message; `status` is the mlg_status
    code and `status_name` its name ("no device", "malformed file", ...)."""

    def __init__(self, message, status=0):
        super().__init__(message)
        self.status = status
        self.status_name = N.rt.mlg_status_string(status).decode() if status else ""


class CompileWarning(UserWarning):
    """The compiler's warnings for a model that compiled."""


TensorInfo = collections.namedtuple("TensorInfo", "name dtype shape")
TensorInfo.__doc__ = "An input or output of a model: its name, NumPy dtype and shape (a tuple)."

Device = collections.namedtuple(
    "Device", "spec backend name platform driver is_gpu compute_units global_mem_bytes "
    "local_mem_bytes max_clock_mhz peak_gflops subgroup_size subgroup_arithmetic")
Device.__doc__ = "A device as mlg_list_devices describes it; `spec` is how to ask for it."


def _runtime_error(status):
    return Error(N.rt.mlg_last_error().decode("utf-8", "replace"), status)


def _check(status):
    if status != 0:
        raise _runtime_error(status)


def _str(b):
    return b.decode("utf-8", "replace")


def _device(info):
    return Device(_str(info.spec), _str(info.backend), _str(info.name), _str(info.platform),
                  _str(info.driver), bool(info.is_gpu), info.compute_units,
                  info.global_mem_bytes, info.local_mem_bytes, info.max_clock_mhz,
                  info.peak_gflops, info.subgroup_size, bool(info.subgroup_arithmetic))


def version():
    """The version of the loaded libmlgrt, "MAJOR.MINOR.PATCH"."""
    return N.rt.mlg_version().decode()


def devices():
    """Every OpenCL and Vulkan device mlg can run on, as a list of Device."""
    count = ctypes.c_int(0)
    _check(N.rt.mlg_list_devices(None, 0, ctypes.byref(count)))
    infos = (N.DeviceInfo * max(count.value, 1))()
    got = ctypes.c_int(0)
    _check(N.rt.mlg_list_devices(infos, count.value, ctypes.byref(got)))
    return [_device(infos[i]) for i in range(min(count.value, got.value))]


def _dims(dims):
    """{"N": 4} as a ctypes array of mlgc_dim, and the encoded names it points to."""
    dims = dict(dims or {})
    arr = (N.CompileDim * max(len(dims), 1))()
    for i, (name, value) in enumerate(dims.items()):
        if not isinstance(name, str):
            raise TypeError("dims: names must be strings, got %r" % (name,))
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError("dims: %s must be an integer, got %r" % (name, value))
        arr[i].name = name.encode()
        arr[i].value = int(value)
    return len(dims), arr


def _compile(source, options):
    """Runs libmlgc on the file `source`; returns the bundle's bytes or raises Error."""
    data = ctypes.c_void_p()
    size = ctypes.c_size_t()
    status = N.mlgc.mlgc_compile_file(os.fsencode(source), ctypes.byref(options),
                                      ctypes.byref(data), ctypes.byref(size))
    log = _str(N.mlgc.mlgc_log() or b"")
    if status != 0:
        raise Error(log.rstrip("\n") or "compiling %s failed" % source, status)
    try:
        bundle = ctypes.string_at(data, size.value)
    finally:
        N.mlgc.mlgc_free(data)
    if log.strip():
        warnings.warn(log.rstrip("\n"), CompileWarning, stacklevel=3)
    return bundle


def compile(source, output=None, *, target="opencl", dims=None, weights=None, no_weights=False,
            opt_level=2, device_hint=None, subgroups=None, tuning=None, precision="f32",
            winograd=True):
    """Compiles the .mlg file `source` into a bundle, as mlgc does, and returns its bytes
    (writing them to `output` too when given).

    target: "opencl" or "vulkan"; dims: {"N": 64} (mlgc -D); weights: a .safetensors path, a
    dict of arrays or a PyTorch state_dict; no_weights: leave them out (bound at load);
    opt_level: 0, 1 or 2; device_hint: "cpu", "gpu" or None; subgroups: None (on for vulkan),
    True or False; tuning: a GEMM tuning file (mlgc --tuning); precision: "f32" or "f16" (f32
    weights and intermediates stored as f16, computed in f32: mlgc --precision); winograd: False
    keeps a CPU bundle's 3×3 convolutions off Winograd's transformed weights, which take up to
    4× the weight's bytes (mlgc --no-winograd).
    """
    options = N.CompileOptions()
    N.mlgc.mlgc_options_init(ctypes.byref(options))
    options.target = target.encode() if target else None
    n, arr = _dims(dims)
    options.n_dims = n
    options.dims = arr
    options.no_weights = int(bool(no_weights))
    options.opt_level = opt_level
    options.device_hint = device_hint.encode() if device_hint else None
    options.subgroups = -1 if subgroups is None else int(bool(subgroups))
    options.tuning_path = os.fsencode(tuning) if tuning else None
    options.precision = precision.encode() if precision else None
    options.no_winograd = int(not winograd)
    with WeightsFile(weights) as path:
        options.weights_path = os.fsencode(path) if path else None
        bundle = _compile(source, options)
    if output is not None:
        with open(output, "wb") as f:
            f.write(bundle)
    return bundle


def _is_bundle(path):
    if os.fspath(path).endswith(".mlgb"):
        return True
    if os.fspath(path).endswith(".mlg"):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(4) == _BUNDLE_MAGIC
    except OSError:
        return False


def load(path, device=None, *, dims=None, weights=None, cache_dir=None, tune=None, precision=None):
    """Loads a model on a device: a bundle (.mlgb) as it is, or a .mlg source compiled in
    memory for the device's backend exactly as mlgrun compiles it.

    device: "opencl:N", "vulkan:N", "opencl", "vulkan", "gpu", "cpu" or None ($MLG_DEVICE, else
    the first GPU, else the first CPU device); dims: {"N": 4} (sources only); weights: a
    .safetensors path, a dict of arrays or a PyTorch state_dict, bound by name (for a source,
    given to the compiler); cache_dir: the program cache folder (None: the runtime's default,
    "": none); tune: for a source, None as mlgrun (the device's cached GEMM tiles), True to
    search again, False for the built-in tiles; precision: for a source, "f32" (None) or "f16"
    (mlgrun --precision).
    """
    path = os.fspath(path)
    bundle = _is_bundle(path)
    if bundle and dims:
        raise Error("dims apply to .mlg sources; '%s' is a compiled bundle (recompile it with "
                    "mlg.compile(..., dims=...))" % path, _INVALID_ARGUMENT)
    if bundle and tune is not None:
        raise Error("tune applies to .mlg sources; a bundle's kernels were tiled when it was "
                    "compiled ('%s')" % path, _INVALID_ARGUMENT)
    if bundle and precision is not None:
        raise Error("precision applies to .mlg sources; a bundle's precision was chosen when it was "
                    "compiled ('%s')" % path, _INVALID_ARGUMENT)
    return Model(path, bundle, device, dims, weights, cache_dir, tune, precision)


class Model:
    """A model loaded on a device, with one session. run() may be called from several threads
    (one run at a time); load the model again for runs in parallel."""

    def __init__(self, path, bundle, device, dims, weights, cache_dir, tune, precision=None):
        self._rt = ctypes.c_void_p()
        self._model = ctypes.c_void_p()
        self._session = ctypes.c_void_p()
        self._lock = threading.Lock()
        ro = N.RuntimeOptions()
        ro.device = device.encode() if device is not None else None
        ro.cache_dir = os.fsencode(cache_dir) if cache_dir is not None else None
        _check(N.rt.mlg_runtime_create(ctypes.byref(ro), ctypes.byref(self._rt)))
        try:
            info = N.rt.mlg_runtime_device(self._rt).contents
            self.device = _device(info)
            with WeightsFile(weights) as weights_path:
                if bundle:
                    lo = N.LoadOptions(os.fsencode(weights_path) if weights_path else None)
                    _check(N.rt.mlg_model_load_file(self._rt, os.fsencode(path), ctypes.byref(lo),
                                                    ctypes.byref(self._model)))
                else:
                    options = N.CompileOptions()
                    N.mlgc.mlgc_options_init(ctypes.byref(options))
                    n, arr = _dims(dims)
                    options.n_dims = n
                    options.dims = arr
                    options.weights_path = os.fsencode(weights_path) if weights_path else None
                    options.device = ctypes.pointer(info)
                    options.tune = 0 if tune is None else (1 if tune else -1)
                    options.precision = precision.encode() if precision else None
                    data = _compile(path, options)
                    _check(N.rt.mlg_model_load_memory(self._rt, data, len(data), None,
                                                      ctypes.byref(self._model)))
            _check(N.rt.mlg_session_create(self._model, ctypes.byref(self._session)))
        except BaseException:
            self.close()
            raise
        self.name = _str(N.rt.mlg_model_name(self._model))
        self.inputs = self._infos(N.rt.mlg_model_input_count, N.rt.mlg_model_input_info)
        self.outputs = self._infos(N.rt.mlg_model_output_count, N.rt.mlg_model_output_info)
        self.params = self._infos(N.rt.mlg_model_param_count, N.rt.mlg_model_param_info)
        # What the run and the train step read (mlg_tensor_info.programs).
        self._train_inputs = []
        for i in range(N.rt.mlg_model_input_count(self._model)):
            info = N.TensorInfo()
            _check(N.rt.mlg_model_input_info(self._model, i, ctypes.byref(info)))
            if info.programs & N.PROGRAM_TRAIN:
                self._train_inputs.append(self.inputs[i])
        ti = N.TrainInfo()
        self.trainable = N.rt.mlg_model_train_info(self._model, ctypes.byref(ti)) == 0
        self.optimizer = _str(ti.optimizer) if self.trainable else None

    def _infos(self, count, info_at):
        out = []
        for i in range(count(self._model)):
            info = N.TensorInfo()
            _check(info_at(self._model, i, ctypes.byref(info)))
            shape = tuple(int(info.dims[d]) for d in range(info.rank))
            out.append(TensorInfo(_str(info.name), _DTYPES[info.dtype], shape))
        return out

    def __repr__(self):
        return "<mlg.Model %s on %s: inputs %s, outputs %s>" % (
            self.name, self.device.spec, [(i.name, str(i.dtype), i.shape) for i in self.inputs],
            [(o.name, str(o.dtype), o.shape) for o in self.outputs])

    def _array(self, info, value):
        a = np.asarray(value)
        if a.dtype != info.dtype:
            if not np.can_cast(a.dtype, info.dtype, casting="same_kind"):
                raise Error("input '%s' is %s, but the model expects %s" % (info.name, a.dtype,
                                                                          info.dtype), _INVALID_ARGUMENT)
            a = a.astype(info.dtype)
        if a.shape != info.shape:
            raise Error("input '%s' has shape %s, but the model expects %s" % (
                info.name, a.shape, info.shape), _INVALID_ARGUMENT)
        return np.ascontiguousarray(a)

    def run(self, inputs=None, /, **kwargs):
        """Runs the model on `inputs` (a dict of name to array, or keyword arguments) and
        returns its outputs as a dict of name to a new NumPy array, in declaration order.
        Arrays of another dtype of the same kind are converted (float64 to float32, int32 to
        int64); the shape must be the input's."""
        given = dict(inputs or {})
        given.update(kwargs)
        names = [i.name for i in self.inputs]
        unknown = [k for k in given if k not in names]
        if unknown:
            raise Error("model '%s' has no input %s; its inputs: %s" % (
                self.name, ", ".join("'%s'" % k for k in unknown), ", ".join(names) or "none"), _INVALID_ARGUMENT)
        missing = [k for k in names if k not in given]
        if missing:
            raise Error("input %s not given; model '%s' takes %s" % (
                ", ".join("'%s'" % k for k in missing), self.name, ", ".join(names)), _INVALID_ARGUMENT)
        arrays = [(info, self._array(info, given[info.name])) for info in self.inputs]
        outputs = {o.name: np.empty(o.shape, o.dtype) for o in self.outputs}
        with self._lock:
            if not self._session:
                raise Error("the model was closed", _INVALID_ARGUMENT)
            for info, a in arrays:
                _check(N.rt.mlg_session_set_input(self._session, info.name.encode(),
                                                  a.ctypes.data, a.nbytes))
            _check(N.rt.mlg_session_run(self._session))
            for name, a in outputs.items():
                _check(N.rt.mlg_session_get_output(self._session, name.encode(), a.ctypes.data,
                                                   a.nbytes))
        return outputs

    def train_step(self, inputs=None, /, **kwargs):
        """One step of the model's train statement on a batch (a dict of name to array, or
        keyword arguments: every input the step reads): forward, backward and the optimizer's
        update of the model's params, on the device. Returns the loss (a float) the step's
        forward computed."""
        if not self.trainable:
            raise Error("model '%s' has no train step; add 'train LOSS with OPTIMIZER(...)' to it"
                        % self.name, _INVALID_ARGUMENT)
        given = dict(inputs or {})
        given.update(kwargs)
        names = [i.name for i in self._train_inputs]
        unknown = [k for k in given if k not in [i.name for i in self.inputs]]
        missing = [k for k in names if k not in given]
        if unknown or missing:
            raise Error("the train step of '%s' takes %s%s" % (
                self.name, ", ".join(names), "; unknown: %s" % ", ".join(unknown) if unknown else
                "; missing: %s" % ", ".join(missing)), _INVALID_ARGUMENT)
        arrays = [(info, self._array(info, given[info.name])) for info in self._train_inputs]
        loss = ctypes.c_float()
        with self._lock:
            if not self._session:
                raise Error("the model was closed", _INVALID_ARGUMENT)
            for info, a in arrays:
                _check(N.rt.mlg_session_set_input(self._session, info.name.encode(),
                                                  a.ctypes.data, a.nbytes))
            _check(N.rt.mlg_session_train_step(self._session, ctypes.byref(loss)))
        return float(loss.value)

    def state_dict(self):
        """Every param's current value (as trained so far), {name: ndarray} in table order:
        loadable back as `weights`, and by PyTorch's load_state_dict (torch.from_numpy)."""
        out = {p.name: np.empty(p.shape, p.dtype) for p in self.params}
        with self._lock:
            if not self._session:
                raise Error("the model was closed", _INVALID_ARGUMENT)
            for name, a in out.items():
                _check(N.rt.mlg_session_get_param(self._session, name.encode(), a.ctypes.data,
                                                  a.nbytes))
        return out

    def save_weights(self, path):
        """Writes every param's current value to a .safetensors file."""
        with self._lock:
            if not self._session:
                raise Error("the model was closed", _INVALID_ARGUMENT)
            _check(N.rt.mlg_session_save_weights(self._session, os.fsencode(path)))

    def close(self):
        """Releases the device memory now (also done when the object is collected)."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            if self._session:
                N.rt.mlg_session_destroy(self._session)
                self._session = ctypes.c_void_p()
            if self._model:
                N.rt.mlg_model_destroy(self._model)
                self._model = ctypes.c_void_p()
            if self._rt:
                N.rt.mlg_runtime_destroy(self._rt)
                self._rt = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the native module may be gone already
            pass
