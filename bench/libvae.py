"""A thin ctypes binding of libvae's C API (include/vae/vae.h), for the
benchmark and comparison scripts: every call checks its status and raises
VaeError with vae_last_error()."""
import ctypes
import os

# Option and enumerator values of vae.h.
OPT = dict(INPUT_DIM=1, LATENT_DIM=2, MAX_BATCH=3, LIKELIHOOD=4, VARIANCE=5, LOG_VARIANCE=6,
           ACTIVATION=7, BACKEND=8, DEVICE=9, SEED=10, LEARNING_RATE=11, ADAM_BETA1=12,
           ADAM_BETA2=13, ADAM_EPSILON=14, KL_WEIGHT=15, SAMPLES=16, OBJECTIVE=17, UPDATE=18,
           THREADS=19, TF32=20, STEPS=21, EPOCHS=22)
BACKEND = dict(auto=0, cpu=1, cuda=2)
BYTES = dict(scale=0, binarize=1, dequantize=2)
FLOAT_OPTIONS = {"LOG_VARIANCE", "LEARNING_RATE", "ADAM_BETA1", "ADAM_BETA2", "ADAM_EPSILON",
                 "KL_WEIGHT"}


class VaeError(RuntimeError):
    pass


def load(path=None):
    """Loads libvae.so: `path`, $LIBVAE, or build/src/libvae.so of this checkout."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = path or os.environ.get("LIBVAE") or os.path.join(here, "..", "build", "src", "libvae.so")
    lib = ctypes.CDLL(path)
    lib.vae_last_error.restype = ctypes.c_char_p
    lib.vae_status_string.restype = ctypes.c_char_p
    lib.vae_config_set_int.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    lib.vae_config_set_float.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_double]
    lib.vae_set_float.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_double]
    lib.vae_set_int.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    lib.vae_config_set_hidden_layers.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                                 ctypes.c_int32]
    lib.vae_train_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                   ctypes.POINTER(ctypes.c_float)]
    lib.vae_dataset_create_u8.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                          ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    lib.vae_train_epoch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                    ctypes.POINTER(ctypes.c_float)]
    lib.vae_save.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.vae_destroy.argtypes = [ctypes.c_void_p]
    lib.vae_dataset_destroy.argtypes = [ctypes.c_void_p]
    lib.vae_config_destroy.argtypes = [ctypes.c_void_p]
    if can_set_stream(lib):
        lib.vae_set_cuda_stream.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    return lib


def can_set_stream(lib):
    """Whether this libvae has vae_set_cuda_stream (queueing its work on the
    caller's CUDA stream)."""
    return hasattr(lib, "vae_set_cuda_stream")


class Trainer:
    """One vae_trainer built from keyword options named as VAE_OPT_* (lower case)."""

    def __init__(self, lib, hidden, **options):
        self.lib = lib
        config = ctypes.c_void_p()
        self._check(lib.vae_config_create(ctypes.byref(config)))
        try:
            widths = (ctypes.c_int32 * len(hidden))(*hidden)
            self._check(lib.vae_config_set_hidden_layers(config, widths, len(hidden)))
            for name, value in options.items():
                key = name.upper()
                if key == "BACKEND":
                    value = BACKEND[value]
                if key in FLOAT_OPTIONS:
                    self._check(lib.vae_config_set_float(config, OPT[key], float(value)))
                else:
                    self._check(lib.vae_config_set_int(config, OPT[key], int(value)))
            self.handle = ctypes.c_void_p()
            self._check(lib.vae_create(config, ctypes.byref(self.handle)))
        finally:
            lib.vae_config_destroy(config)

    def _check(self, status):
        if status != 0:
            raise VaeError("%s: %s" % (self.lib.vae_status_string(status).decode(),
                                       self.lib.vae_last_error().decode()))

    def train_step(self, x_ptr, rows, want_loss=True):
        """One step on `rows` rows at the raw address x_ptr: host memory, or on
        CUDA device memory too (a torch CUDA tensor's data_ptr()). With
        want_loss=False the loss stays unread (NULL) and None is returned."""
        loss = ctypes.c_float()
        self._check(self.lib.vae_train_step(self.handle, ctypes.c_void_p(x_ptr), rows,
                                            ctypes.byref(loss) if want_loss else None))
        return loss.value if want_loss else None

    def set_cuda_stream(self, stream):
        """Queues the trainer's device work on the CUDA stream whose handle is
        `stream` (torch.cuda.Stream().cuda_stream); 0 returns it to its own."""
        self._check(self.lib.vae_set_cuda_stream(self.handle, ctypes.c_void_p(stream)))

    def dataset_u8(self, array, transform):
        """A dataset of a C-contiguous uint8 numpy array [rows, dim]."""
        ds = ctypes.c_void_p()
        self._check(self.lib.vae_dataset_create_u8(self.handle, array.ctypes.data, array.shape[0],
                                                   BYTES[transform], ctypes.byref(ds)))
        return ds

    def train_epoch(self, ds, batch):
        loss = ctypes.c_float()
        self._check(self.lib.vae_train_epoch(self.handle, ds, batch, ctypes.byref(loss)))
        return loss.value

    def save(self, path):
        self._check(self.lib.vae_save(self.handle, path.encode()))

    def close(self):
        self.lib.vae_destroy(self.handle)
