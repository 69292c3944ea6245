"""The package gives the C API's results: the same libvae.so (the one beside
the extension) called through ctypes, with the same seed and data, takes the
same steps bit for bit."""
import ctypes
import glob
import os

import numpy as np
import pytest

import libvae
from support import binary_rows, small_model

OPT = {"INPUT_DIM": 1, "LATENT_DIM": 2, "MAX_BATCH": 3, "BACKEND": 8, "SEED": 10, "THREADS": 19}
BACKEND_CPU = 1
BYTES_BINARIZE = 1
ESTIMATOR_IMPORTANCE = 1

floats = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")


@pytest.fixture(scope="module")
def capi():
    """libvae.so of the installed package, through ctypes."""
    (path,) = glob.glob(os.path.join(os.path.dirname(libvae.__file__), "libvae.so*"))
    lib = ctypes.CDLL(path)
    lib.vae_last_error.restype = ctypes.c_char_p
    lib.vae_config_set_int.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
    lib.vae_config_set_hidden_layers.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                                 ctypes.c_int32]
    lib.vae_config_destroy.argtypes = [ctypes.c_void_p]
    lib.vae_destroy.argtypes = [ctypes.c_void_p]
    lib.vae_train_step.argtypes = [ctypes.c_void_p, floats, ctypes.c_int64,
                                   ctypes.POINTER(ctypes.c_float)]
    lib.vae_evaluate.argtypes = [ctypes.c_void_p, floats, ctypes.c_int64, floats, floats, floats]
    lib.vae_encode.argtypes = [ctypes.c_void_p, floats, ctypes.c_int64, floats, floats]
    lib.vae_log_likelihood.argtypes = [ctypes.c_void_p, floats, ctypes.c_int64, ctypes.c_int32,
                                       ctypes.c_int, floats]
    lib.vae_parameter_count.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]
    lib.vae_get_parameters.argtypes = [ctypes.c_void_p, floats, ctypes.c_int64]
    lib.vae_dataset_create_u8.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                          ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
    lib.vae_dataset_destroy.argtypes = [ctypes.c_void_p]
    lib.vae_train_epoch.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                    ctypes.POINTER(ctypes.c_float)]
    return lib


class CTrainer:
    """A vae_trainer made through ctypes with small_model()'s options."""

    def __init__(self, lib):
        self.lib = lib
        config = ctypes.c_void_p()
        self.check(lib.vae_config_create(ctypes.byref(config)))
        widths = (ctypes.c_int32 * 1)(32)
        self.check(lib.vae_config_set_hidden_layers(config, widths, 1))
        for option, value in (("LATENT_DIM", 4), ("BACKEND", BACKEND_CPU), ("THREADS", 1),
                              ("SEED", 1), ("MAX_BATCH", 64)):
            self.check(lib.vae_config_set_int(config, OPT[option], value))
        self.handle = ctypes.c_void_p()
        self.check(lib.vae_create(config, ctypes.byref(self.handle)))
        lib.vae_config_destroy(config)

    def check(self, status):
        assert status == 0, self.lib.vae_last_error().decode()

    def train_step(self, x):
        loss = ctypes.c_float()
        self.check(self.lib.vae_train_step(self.handle, x, x.shape[0], ctypes.byref(loss)))
        return loss.value

    def parameters(self):
        count = ctypes.c_int64()
        self.check(self.lib.vae_parameter_count(self.handle, ctypes.byref(count)))
        out = np.empty(count.value, np.float32)
        self.check(self.lib.vae_get_parameters(self.handle, out, count.value))
        return out

    def close(self):
        self.lib.vae_destroy(self.handle)


def test_train_steps_equal_the_c_api(capi):
    ours, theirs = small_model(), CTrainer(capi)
    try:
        assert np.array_equal(ours.parameters(), theirs.parameters())
        for i in range(20):
            x = binary_rows(64, seed=i)
            assert ours.train_step(x) == theirs.train_step(x)
        assert np.array_equal(ours.parameters(), theirs.parameters())

        x = binary_rows(16, seed=99)
        n = len(x)
        elbo, reconstruction, kl = (np.empty(n, np.float32) for _ in range(3))
        theirs.check(capi.vae_evaluate(theirs.handle, x, n, elbo, reconstruction, kl))
        evaluation = ours.evaluate(x)
        for a, b in zip(evaluation, (elbo, reconstruction, kl)):
            assert np.array_equal(a, b)

        mu, logvar = np.empty((n, 4), np.float32), np.empty((n, 4), np.float32)
        theirs.check(capi.vae_encode(theirs.handle, x, n, mu, logvar))
        our_mu, our_logvar = ours.encode(x)
        assert np.array_equal(our_mu, mu) and np.array_equal(our_logvar, logvar)

        log_px = np.empty(n, np.float32)
        theirs.check(capi.vae_log_likelihood(theirs.handle, x, n, 50, ESTIMATOR_IMPORTANCE, log_px))
        assert np.array_equal(ours.log_likelihood(x, k=50), log_px)
    finally:
        theirs.close()


def test_an_epoch_over_bytes_equals_the_c_api(capi):
    ours, theirs = small_model(), CTrainer(capi)
    images = (binary_rows(300, seed=5) * 200).astype(np.uint8)
    try:
        dataset = ctypes.c_void_p()
        theirs.check(capi.vae_dataset_create_u8(theirs.handle, images.ctypes.data, len(images),
                                                BYTES_BINARIZE, ctypes.byref(dataset)))
        loss = ctypes.c_float()
        for _ in range(2):
            theirs.check(capi.vae_train_epoch(theirs.handle, dataset, 50, ctypes.byref(loss)))
        capi.vae_dataset_destroy(dataset)
        history = ours.fit(images, epochs=2, batch_size=50, transform="binarize", progress=False)
        assert history[-1]["loss"] == loss.value
        assert np.array_equal(ours.parameters(), theirs.parameters())
    finally:
        theirs.close()


def test_a_loaded_checkpoint_resumes_exactly(tmp_path):
    model = small_model()
    for i in range(5):
        model.train_step(binary_rows(64, seed=i))
    model.save(tmp_path / "model.safetensors")
    loaded = libvae.load(tmp_path / "model.safetensors", backend="cpu")
    assert (loaded.hidden, loaded.latent_dim, loaded.steps) == ((32,), 4, 5)
    assert np.array_equal(loaded.parameters(), model.parameters())
    for i in range(5, 10):
        x = binary_rows(64, seed=i)
        assert loaded.train_step(x) == model.train_step(x)
    assert np.array_equal(loaded.parameters(), model.parameters())
