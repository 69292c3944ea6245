"""Learning-rate schedules and gradient clipping from Python: the options as
constructor arguments and properties, the rate of each step read back, the
norm of the last step's gradient, checkpoints, and refusals."""
import math

import numpy as np
import pytest

import libvae
from support import binary_rows, small_model


def cosine_rate(lr, final, warmup, decay, t):
    """vae.h's formula, written out again."""
    if t < warmup:
        return lr * (t + 1) / warmup
    if t >= warmup + decay:
        return final
    return final + 0.5 * (lr - final) * (1 + math.cos(math.pi * (t - warmup) / decay))


def test_a_cosine_schedule_with_warm_up_gives_each_step_its_rate():
    model = small_model(learning_rate=0.01, lr_schedule="cosine", warmup_steps=2,
                        decay_steps=5, final_learning_rate=0.001)
    assert (model.lr_schedule, model.warmup_steps, model.decay_steps) == ("cosine", 2, 5)
    x = binary_rows(32)
    for t in range(9):
        assert model.next_learning_rate == pytest.approx(
            cosine_rate(0.01, 0.001, 2, 5, t), rel=1e-14)
        model.train_step(x)
    assert model.next_learning_rate == 0.001


def test_the_norm_is_read_and_clipping_changes_the_step():
    x = binary_rows(32, seed=3)
    free, clipped = small_model(eps=0.05), small_model(eps=0.05, clip_norm=0.01)
    assert free.grad_norm == 0.0
    free.train_step(x)
    clipped.train_step(x)
    assert free.grad_norm > 0.01
    assert clipped.grad_norm == free.grad_norm  # the norm before clipping
    assert not np.array_equal(free.parameters(), clipped.parameters())
    unclipped = small_model(eps=0.05, clip_norm=1e30)
    unclipped.train_step(x)
    assert np.array_equal(free.parameters(), unclipped.parameters())


def test_the_options_are_saved_and_loaded(tmp_path):
    model = small_model(lr_schedule="linear", warmup_steps=3, decay_steps=40,
                        final_learning_rate=1e-5, clip_norm=2.5)
    model.train_step(binary_rows(16))
    path = str(tmp_path / "model.safetensors")
    model.save(path)
    loaded = libvae.load(path)
    for name in ("lr_schedule", "warmup_steps", "decay_steps", "final_learning_rate",
                 "clip_norm", "next_learning_rate"):
        assert getattr(loaded, name) == getattr(model, name), name


def test_bad_values_are_refused_and_change_nothing():
    model = small_model()
    with pytest.raises(libvae.InvalidArgumentError, match="set VAE_OPT_DECAY_STEPS first"):
        model.lr_schedule = "cosine"
    assert model.lr_schedule == "constant"
    with pytest.raises(libvae.InvalidArgumentError, match="lr_schedule"):
        model.lr_schedule = "exponential"
    for name, value in (("warmup_steps", -1), ("decay_steps", -2), ("clip_norm", -0.1),
                        ("final_learning_rate", float("nan"))):
        before = getattr(model, name)
        with pytest.raises(libvae.InvalidArgumentError):
            setattr(model, name, value)
        assert getattr(model, name) == before
    for name in ("grad_norm", "next_learning_rate"):
        with pytest.raises(AttributeError):
            setattr(model, name, 1.0)
    with pytest.raises(libvae.InvalidArgumentError, match="VAE_OPT_DECAY_STEPS"):
        small_model(lr_schedule="linear")
