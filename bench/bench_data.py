"""The benchmarks' model sizes and data: Fashion-MNIST's training images
where Debian's dataset-fashion-mnist is installed, random images of the
same shape where not, and fixed batches of them dynamically binarized. No
framework import, so that the race's parent and every one of its workers,
and compare_with_pytorch.py, read the same sizes and rows."""
import gzip
import os

import numpy as np

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
INPUT_DIM = 784
SIZES = {
    # name: (hidden widths, latent, batch)
    "S": ([400], 20, 128),
    "M": ([1024, 1024], 64, 1024),
    "L": ([2048, 2048], 128, 8192),
}


def fashion_path(data_dir):
    return os.path.join(data_dir, "train-images-idx3-ubyte.gz")


def describe(data_dir):
    """Which data training_bytes reads, for the benchmarks' headers."""
    if os.path.exists(fashion_path(data_dir)):
        return fashion_path(data_dir)
    return "random images (no Fashion-MNIST in %s)" % data_dir


def training_bytes(rows, data_dir, seed=0):
    """Fashion-MNIST's training images as uint8 [rows, INPUT_DIM], or random
    images of the same shape where data_dir does not hold them."""
    if os.path.exists(fashion_path(data_dir)):
        with gzip.open(fashion_path(data_dir), "rb") as f:
            data = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, INPUT_DIM)
        return np.ascontiguousarray(data[:rows])
    return np.random.default_rng(seed).integers(0, 256, size=(rows, INPUT_DIM), dtype=np.uint8)


def binarized_batches(count, batch, data_dir, seed=1):
    """`count` batches of dynamically binarized images, fixed by the seed."""
    rng = np.random.default_rng(seed)
    images = training_bytes(count * batch, data_dir).astype(np.float32) / 255.0
    x = (rng.random(images.shape, dtype=np.float32) < images).astype(np.float32)
    return x.reshape(count, batch, INPUT_DIM)
