"""Training lowers the loss: fit() on a Fashion-MNIST slice, its metrics, and
Ctrl-C between steps."""
import os
import signal
import threading

import numpy as np
import pytest

import libvae
from support import binary_rows, fashion_bytes, small_model


def test_fit_on_fashion_mnist_lowers_the_loss():
    images = fashion_bytes(5000)
    model = libvae.VAE(backend="cpu", seed=1, threads=1)  # the reference 784-400-20 model
    history = model.fit(images[:4000], epochs=5, validation=images[4000:], progress=False)

    assert [m["epoch"] for m in history] == [1, 2, 3, 4, 5]
    assert model.epochs == 5 and model.steps == 5 * 32  # 4000 rows in batches of 128
    losses = [m["loss"] for m in history]
    elbos = [m["validation_elbo"] for m in history]
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    # From about 784 log 2 = 543 nats (an untrained decoder) to under 300.
    assert losses[0] < 784 * np.log(2) and losses[-1] < 300, losses
    assert elbos[-1] > elbos[0] + 40, elbos
    for m in history:
        assert m["validation_elbo"] == pytest.approx(
            m["validation_reconstruction"] - m["validation_kl"], rel=1e-6)
        assert m["validation_kl"] > 0 and m["seconds"] > 0


def test_train_steps_lower_the_loss_and_count():
    model = small_model()
    x = binary_rows(64)
    losses = [model.train_step(x) for _ in range(40)]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 20
    assert model.steps == 40 and model.skipped_steps == 0


def test_fit_uses_bytes_and_floats_alike():
    """Float rows of 0 and 1 train exactly as the same bytes scaled by y/255."""
    rows = binary_rows(100)
    by_floats, by_bytes = small_model(), small_model()
    a = by_floats.fit(rows, epochs=2, batch_size=32, progress=False)
    b = by_bytes.fit((rows * 255).astype(np.uint8), epochs=2, batch_size=32, transform="scale",
                     progress=False)
    assert [m["loss"] for m in a] == [m["loss"] for m in b]
    assert np.array_equal(by_floats.parameters(), by_bytes.parameters())


def test_progress_reports_rows_and_the_plain_line(capsys):
    model = small_model()
    calls = []
    dataset = model.dataset(binary_rows(640))
    model.train_epoch(dataset, 64, lambda done, total, loss: calls.append((done, total, loss)))
    assert [c[0] for c in calls] == list(range(64, 641, 64)) and {c[1] for c in calls} == {640}
    model.fit(binary_rows(64), epochs=1, batch_size=32, progress=True)
    assert "epoch 1/1" in capsys.readouterr().err


def test_ctrl_c_stops_fit_between_epochs_with_the_model_intact():
    model = small_model()
    rows = binary_rows(128)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(rows, epochs=100000, batch_size=32, progress=False)
    finally:
        timer.cancel()
    epochs = model.epochs
    assert 0 < epochs < 100000
    assert model.steps == 4 * epochs  # only whole epochs: 128 rows in 4 steps each
    assert np.isfinite(model.parameters()).all()
    model.train_step(rows[:32])
    assert model.steps == 4 * epochs + 1


def test_an_exception_of_the_progress_callback_comes_after_the_epoch():
    model = small_model()
    dataset = model.dataset(binary_rows(256))

    def fail(done, total, loss):
        raise RuntimeError("the display broke")

    with pytest.raises(RuntimeError, match="the display broke"):
        model.train_epoch(dataset, 32, fail)
    assert model.epochs == 1 and model.steps == 8


def test_a_progress_callback_cannot_use_its_own_model():
    model = small_model()
    dataset = model.dataset(binary_rows(64))
    with pytest.raises(libvae.InvalidArgumentError, match="busy"):
        model.train_epoch(dataset, 32, lambda *_: model.steps)
    assert model.epochs == 1


def test_dataset_evaluations_report_progress_and_do_not_depend_on_eval_rows():
    model = small_model()
    rows = binary_rows(600)
    model.fit(rows, epochs=1, batch_size=64, progress=False)
    dataset = model.dataset(rows)
    calls = []
    mean = model.log_likelihood_dataset(dataset, k=50, progress=lambda *c: calls.append(c))
    assert 1 <= len(calls) <= 65 and calls[-1][:2] == (600, 600)
    assert calls[-1][2] == pytest.approx(mean, rel=1e-12)
    assert all(b[0] >= a[0] for a, b in zip(calls, calls[1:]))
    elbo_calls = []
    elbo = model.evaluate_dataset(dataset, progress=lambda *c: elbo_calls.append(c))
    assert elbo_calls[-1][0] == 600 and elbo_calls[-1][2] == pytest.approx(elbo.elbo, rel=1e-12)
    # The option, and the same numbers from the same draws whatever the chunk size.
    assert model.eval_rows == 0
    model.eval_rows = 512
    assert model.eval_rows == 512
    a, b = small_model(eval_rows=512), small_model(eval_rows=0)
    b.set_parameters(a.parameters())
    assert np.array_equal(a.log_likelihood(rows, k=30), b.log_likelihood(rows, k=30))
