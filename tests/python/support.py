"""Helpers shared by the libvae package's tests (pytest). The package under
test is the installed one (`pip install .`)."""
import contextlib
import gzip
import os

import numpy as np
import pytest

import libvae

FASHION_TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"


def fashion_bytes(rows):
    """The first `rows` Fashion-MNIST training images, uint8 (rows, 784)."""
    if not os.path.exists(FASHION_TRAIN):
        pytest.skip(f"Fashion-MNIST is not installed ({FASHION_TRAIN}; Debian: dataset-fashion-mnist)")
    with gzip.open(FASHION_TRAIN, "rb") as f:
        f.read(16)
        data = f.read(rows * 784)
    return np.frombuffer(data, dtype=np.uint8).reshape(rows, 784)


def binary_rows(rows, dim=784, seed=0):
    """Random {0, 1} float32 rows: Bernoulli data from a fixed seed."""
    return (np.random.default_rng(seed).random((rows, dim)) < 0.3).astype(np.float32)


def small_model(**options):
    """A quick model on the CPU backend: 784-32-4, one thread, seed 1."""
    settings = dict(hidden=(32,), latent_dim=4, backend="cpu", threads=1, seed=1, max_batch=64)
    settings.update(options)
    return libvae.VAE(**settings)


class Snapshot:
    """A model's parameters and counters, to check that a failed call changed nothing."""

    def __init__(self, model):
        self.model = model
        self.parameters = model.parameters()
        self.counters = (model.steps, model.epochs, model.skipped_steps)

    def unchanged(self):
        model = self.model
        return (np.array_equal(model.parameters(), self.parameters)
                and (model.steps, model.epochs, model.skipped_steps) == self.counters)


def assert_steps_as_without_hook(hooked, plain, place=lambda x: x):
    """Five steps of a model with a hook of one rank and of one without: the
    same losses and parameters, bit for bit. place(x) puts a batch where the
    models take it (on the GPU, say)."""
    for seed in range(5):
        x = place(binary_rows(40, seed=seed))
        assert hooked.train_step(x) == plain.train_step(x)
    assert np.array_equal(hooked.parameters(), plain.parameters())


def torch_distributed(backend):
    """torch.distributed, where it has `backend` ("gloo", "nccl"); skips the
    test otherwise."""
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not getattr(dist, f"is_{backend}_available")():
        pytest.skip(f"torch.distributed with {backend} is not available")
    return dist


@contextlib.contextmanager
def one_rank_process_group(backend, tmp_path):
    """torch.distributed's default group, of one rank, on `backend`; skips
    the test where PyTorch or that backend is missing."""
    dist = torch_distributed(backend)
    dist.init_process_group(backend, init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()
