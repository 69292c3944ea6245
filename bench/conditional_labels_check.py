"""Whether a conditional checkpoint uses its labels (README, vae-train --conditional).

Prints the mean test ELBO of the first 2,000 Fashion-MNIST test rows under
their own labels and under the same labels shuffled, and for each class the
class whose mean test image is nearest the mean of 200 samples drawn under
that class's condition.

Usage: python3 bench/conditional_labels_check.py CHECKPOINT
"""
import gzip
import sys

import numpy as np

import libvae

ROOT = "/usr/share/datasets/fashion-mnist/"  # Debian's dataset-fashion-mnist
ROWS, DRAWS = 2000, 200


def idx_bytes(name: str, header: int) -> np.ndarray:
    with gzip.open(ROOT + name) as f:
        return np.frombuffer(f.read(), np.uint8, offset=header)


def main() -> None:
    x = idx_bytes("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 784).astype(np.float32) / 255
    y = idx_bytes("t10k-labels-idx1-ubyte.gz", 8)
    model = libvae.load(sys.argv[1])
    classes = model.condition_dim
    own = model.evaluate(x[:ROWS], condition=y[:ROWS]).elbo.mean()
    shuffled = np.random.default_rng(0).permutation(y[:ROWS])
    other = model.evaluate(x[:ROWS], condition=shuffled).elbo.mean()
    print(f"test ELBO, first {ROWS} rows: own labels {own:.2f}, shuffled labels {other:.2f}")
    drawn = np.stack([model.sample(DRAWS, condition=np.full(DRAWS, k)).mean(0)
                      for k in range(classes)])
    data = np.stack([x[y == k].mean(0) for k in range(classes)])
    nearest = ((drawn[:, None, :] - data[None, :, :]) ** 2).sum(-1).argmin(1)
    print("nearest class mean of each class's samples:", nearest.tolist())


if __name__ == "__main__":
    main()
