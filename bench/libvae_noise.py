"""libvae's training noise in NumPy, so that every contender of the race
takes its steps under the very epsilon libvae draws and their losses can be
compared to float rounding rather than to the spread of two draws.

The twin of kernels/philox.h (docs/design.md, "Noise"): element i of step
s's epsilon (row r, latent j: i = r * latent + j) is lane i % 4 of
Philox4x32-10 block i / 4 under the counter {block lo, block hi, s lo,
s hi ^ stream << 24} and the key {seed lo, seed hi}, turned into normals by
Box-Muller in float. The step counter s is libvae's count of steps taken
before that step (0 for the first)."""
import numpy as np

LATENT_STREAM = 1  # NoiseStream::kLatent
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_WEYL = np.array([0x9E3779B9, 0xBB67AE85], dtype=np.uint32)


def _philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Ten rounds over arrays of counters (uint32), as philox4x32_10."""
    key = np.array([k0, k1], dtype=np.uint32)
    low = np.uint64(0xFFFFFFFF)
    for _ in range(10):
        p0 = c0.astype(np.uint64) * _M0
        p1 = c2.astype(np.uint64) * _M1
        hi0, lo0 = (p0 >> np.uint64(32)).astype(np.uint32), (p0 & low).astype(np.uint32)
        hi1, lo1 = (p1 >> np.uint64(32)).astype(np.uint32), (p1 & low).astype(np.uint32)
        c0, c1, c2, c3 = hi1 ^ c1 ^ key[0], lo1, hi0 ^ c3 ^ key[1], lo0
        key += _WEYL  # an array, so that uint32 wraps silently, as the key schedule does
    return c0, c1, c2, c3


def _box_muller(b1, b2):
    """box_muller: u1 in (0, 1] so the logarithm is finite, float32 throughout."""
    scale = np.float32(1.0 / 16777216.0)
    u1 = ((b1 >> np.uint32(8)) + np.uint32(1)).astype(np.float32) * scale
    u2 = (b2 >> np.uint32(8)).astype(np.float32) * scale
    r = np.sqrt(np.float32(-2.0) * np.log(u1))
    theta = np.float32(6.28318530717958647692) * u2
    return r * np.cos(theta), r * np.sin(theta)


def training_eps(seed, step, rows, latent):
    """The epsilon [rows, latent] (float32) of libvae's training step number
    `step` (counted from 0) for a model created with `seed`, one sample."""
    count = rows * latent
    blocks = np.arange((count + 3) // 4, dtype=np.uint64)
    c0 = (blocks & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    c1 = (blocks >> np.uint64(32)).astype(np.uint32)
    c2 = np.full_like(c0, step & 0xFFFFFFFF)
    c3 = np.full_like(c0, ((step >> 32) ^ (LATENT_STREAM << 24)) & 0xFFFFFFFF)
    w = _philox4x32_10(c0, c1, c2, c3, seed & 0xFFFFFFFF, seed >> 32)
    n0, n1 = _box_muller(w[0], w[1])
    n2, n3 = _box_muller(w[2], w[3])
    return np.stack([n0, n1, n2, n3], axis=1).reshape(-1)[:count].reshape(rows, latent)
