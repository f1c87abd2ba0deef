"""ctypes declarations of libmlgrt (runtime/include/mlg.h) and libmlgc (tools/libmlgc/mlgc.h).

The libraries are the ones the package was built with, in mlg/_lib/; MLG_LIBRARY_DIR names
another folder holding libmlgrt.so.* and libmlgc.so (a CMake build's lib/, for development).
"""
import ctypes
import os

MAX_DIMS = 8

# mlg_dtype (runtime/include/mlg.h)
DTYPE_F32 = 0
DTYPE_I32 = 1
DTYPE_BOOL = 2
DTYPE_I64 = 3
DTYPE_F16 = 4
DTYPE_I8 = 5
DTYPE_U8 = 6


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("spec", ctypes.c_char * 32),
        ("backend", ctypes.c_char * 16),
        ("name", ctypes.c_char * 256),
        ("platform", ctypes.c_char * 128),
        ("driver", ctypes.c_char * 128),
        ("is_gpu", ctypes.c_int),
        ("compute_units", ctypes.c_int),
        ("global_mem_bytes", ctypes.c_uint64),
        ("local_mem_bytes", ctypes.c_uint64),
        ("max_clock_mhz", ctypes.c_int),
        ("peak_gflops", ctypes.c_double),
        ("peak_formula", ctypes.c_char * 128),
        ("subgroup_size", ctypes.c_int),
        ("subgroup_arithmetic", ctypes.c_int),
    ]


class TensorInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("dtype", ctypes.c_int),
        ("rank", ctypes.c_int),
        ("dims", ctypes.c_int64 * MAX_DIMS),
        ("bytes", ctypes.c_size_t),
        ("programs", ctypes.c_uint),
    ]


PROGRAM_RUN = 1
PROGRAM_TRAIN = 2


class TrainInfo(ctypes.Structure):
    _fields_ = [
        ("loss", ctypes.c_char_p),
        ("optimizer", ctypes.c_char_p),
        ("n_trained", ctypes.c_int),
        ("trained_bytes", ctypes.c_uint64),
        ("state_bytes", ctypes.c_uint64),
    ]


class RuntimeOptions(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_char_p),
        ("cache_dir", ctypes.c_char_p),
        ("enable_profiling", ctypes.c_int),
    ]


class LoadOptions(ctypes.Structure):
    _fields_ = [("weights_path", ctypes.c_char_p), ("progress", ctypes.c_void_p),
                ("progress_user", ctypes.c_void_p)]


class CompileDim(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_int64)]


class CompileOptions(ctypes.Structure):
    _fields_ = [
        ("target", ctypes.c_char_p),
        ("n_dims", ctypes.c_int),
        ("dims", ctypes.POINTER(CompileDim)),
        ("weights_path", ctypes.c_char_p),
        ("no_weights", ctypes.c_int),
        ("opt_level", ctypes.c_int),
        ("device_hint", ctypes.c_char_p),
        ("subgroups", ctypes.c_int),
        ("tuning_path", ctypes.c_char_p),
        ("no_memory_reuse", ctypes.c_int),
        ("device", ctypes.POINTER(DeviceInfo)),
        ("tune", ctypes.c_int),
        ("precision", ctypes.c_char_p),
        ("no_winograd", ctypes.c_int),
    ]


def _library_dir():
    return os.environ.get("MLG_LIBRARY_DIR") or os.path.join(os.path.dirname(__file__), "_lib")


def _load():
    where = _library_dir()
    try:
        names = sorted((n for n in os.listdir(where) if n.startswith("libmlgrt.so.")), key=len)
    except OSError:
        names = []
    if not names:
        raise ImportError("mlg: no libmlgrt.so.* in %s; reinstall the package (pip install "
                          "./python) or point MLG_LIBRARY_DIR at a build's lib/ folder" % where)
    rt = ctypes.CDLL(os.path.join(where, names[0]))
    mlgc = ctypes.CDLL(os.path.join(where, "libmlgc.so"))
    return rt, mlgc


def _declare(lib, name, restype, *argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


rt, mlgc = _load()

P = ctypes.c_void_p
_declare(rt, "mlg_version", ctypes.c_char_p)
_declare(rt, "mlg_status_string", ctypes.c_char_p, ctypes.c_int)
_declare(rt, "mlg_last_error", ctypes.c_char_p)
_declare(rt, "mlg_list_devices", ctypes.c_int, ctypes.POINTER(DeviceInfo), ctypes.c_int,
         ctypes.POINTER(ctypes.c_int))
_declare(rt, "mlg_runtime_create", ctypes.c_int, ctypes.POINTER(RuntimeOptions), ctypes.POINTER(P))
_declare(rt, "mlg_runtime_destroy", None, P)
_declare(rt, "mlg_runtime_device", ctypes.POINTER(DeviceInfo), P)
_declare(rt, "mlg_model_load_file", ctypes.c_int, P, ctypes.c_char_p, ctypes.POINTER(LoadOptions),
         ctypes.POINTER(P))
_declare(rt, "mlg_model_load_memory", ctypes.c_int, P, P, ctypes.c_size_t,
         ctypes.POINTER(LoadOptions), ctypes.POINTER(P))
_declare(rt, "mlg_model_destroy", None, P)
_declare(rt, "mlg_model_name", ctypes.c_char_p, P)
_declare(rt, "mlg_model_input_count", ctypes.c_int, P)
_declare(rt, "mlg_model_output_count", ctypes.c_int, P)
_declare(rt, "mlg_model_input_info", ctypes.c_int, P, ctypes.c_int, ctypes.POINTER(TensorInfo))
_declare(rt, "mlg_model_output_info", ctypes.c_int, P, ctypes.c_int, ctypes.POINTER(TensorInfo))
_declare(rt, "mlg_session_create", ctypes.c_int, P, ctypes.POINTER(P))
_declare(rt, "mlg_session_destroy", None, P)
_declare(rt, "mlg_session_set_input", ctypes.c_int, P, ctypes.c_char_p, P, ctypes.c_size_t)
_declare(rt, "mlg_session_run", ctypes.c_int, P)
_declare(rt, "mlg_session_get_output", ctypes.c_int, P, ctypes.c_char_p, P, ctypes.c_size_t)
_declare(rt, "mlg_model_param_count", ctypes.c_int, P)
_declare(rt, "mlg_model_param_info", ctypes.c_int, P, ctypes.c_int, ctypes.POINTER(TensorInfo))
_declare(rt, "mlg_model_train_info", ctypes.c_int, P, ctypes.POINTER(TrainInfo))
_declare(rt, "mlg_session_train_step", ctypes.c_int, P, ctypes.POINTER(ctypes.c_float))
_declare(rt, "mlg_session_get_param", ctypes.c_int, P, ctypes.c_char_p, P, ctypes.c_size_t)
_declare(rt, "mlg_session_set_param", ctypes.c_int, P, ctypes.c_char_p, P, ctypes.c_size_t)
_declare(rt, "mlg_session_save_weights", ctypes.c_int, P, ctypes.c_char_p)

_declare(mlgc, "mlgc_options_init", None, ctypes.POINTER(CompileOptions))
_declare(mlgc, "mlgc_compile_file", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(CompileOptions),
         ctypes.POINTER(P), ctypes.POINTER(ctypes.c_size_t))
_declare(mlgc, "mlgc_free", None, P)
_declare(mlgc, "mlgc_log", ctypes.c_char_p)
