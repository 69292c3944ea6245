"""Training lowers the loss: fit() on a Fashion-MNIST slice, its metrics, and
stopping between steps: Ctrl-C, a failing progress callback, interrupt()."""
import os
import signal
import threading

import numpy as np
import pytest

import libvae
from support import binary_rows, fashion_bytes, small_model


@pytest.fixture
def sigint_raises_keyboard_interrupt():
    """Python's own SIGINT handler for the test: a process started in the
    background by a non-interactive shell (as CI may be) inherits SIGINT
    ignored, and Python then installs no handler, so Ctrl-C would do nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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


def test_ctrl_c_stops_fit_between_steps_with_the_model_intact(
        monkeypatch, sigint_raises_keyboard_interrupt):
    """A SIGINT at the first progress call of the first epoch: fit stops
    before the second step and raises KeyboardInterrupt; the step stays."""
    raised = []

    class SignalAtFirstCall:
        def __init__(self, label, rows):
            pass

        def update(self, done, total, loss):
            if not raised:
                raised.append(done)
                signal.raise_signal(signal.SIGINT)

        def close(self, metrics=None):
            pass

    monkeypatch.setattr(libvae._model, "EpochProgress", SignalAtFirstCall)
    model = small_model()
    rows = binary_rows(640)  # 10 steps of 64 an epoch
    with pytest.raises(KeyboardInterrupt) as stop:
        model.fit(rows, epochs=3, batch_size=64, progress=True)
    assert raised == [64]
    assert stop.value.history == []
    assert model.steps == 1 and model.epochs == 0
    # The model goes on: the next epoch runs whole.
    history = model.fit(rows, epochs=1, batch_size=64, progress=False)
    assert [m["epoch"] for m in history] == [1]
    assert model.steps == 11 and np.isfinite(model.parameters()).all()


def test_ctrl_c_stops_fit_without_a_progress_display(sigint_raises_keyboard_interrupt):
    """SIGINT from another thread while fit(progress=False) trains: the
    library's progress calls still check for it."""
    model = small_model()
    rows = binary_rows(2048)  # 32 steps of 64 an epoch
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as stop:
            # Bounded, so that a lost signal fails the test instead of hanging CI.
            model.fit(rows, epochs=3000, batch_size=64, progress=False)
    finally:
        timer.cancel()
    epochs = model.epochs
    assert 0 < epochs < 3000
    # Every epoch fit() recorded is one the model counts; a SIGINT in the
    # instant between an epoch's last progress call and its record leaves
    # it counted but not recorded (fit's docstring).
    recorded = [m["epoch"] for m in stop.value.history]
    assert recorded == list(range(1, len(recorded) + 1)) and epochs - 1 <= len(recorded) <= epochs
    assert 32 * epochs <= model.steps < 32 * (epochs + 1)
    assert np.isfinite(model.parameters()).all()
    steps = model.steps
    model.train_step(rows[:32])
    assert model.steps == steps + 1


def test_an_exception_of_the_progress_callback_stops_the_epoch():
    model = small_model()
    dataset = model.dataset(binary_rows(256))

    def fail(done, total, loss):
        raise RuntimeError("the display broke")

    with pytest.raises(RuntimeError, match="the display broke"):
        model.train_epoch(dataset, 32, fail)
    assert model.epochs == 0 and model.steps == 1
    assert model.train_epoch(dataset, 32) > 0
    assert model.epochs == 1 and model.steps == 9


def test_interrupt_from_the_progress_callback_raises_interrupted():
    model = small_model()
    dataset = model.dataset(binary_rows(256))
    with pytest.raises(libvae.Interrupted, match="before step 3 of 8") as stopped:
        model.train_epoch(dataset, 32, lambda done, total, loss: done == 64 and model.interrupt())
    assert isinstance(stopped.value, libvae.Error) and not isinstance(stopped.value, KeyboardInterrupt)
    assert model.epochs == 0 and model.steps == 2
    model.interrupt()  # with nothing running: no effect
    model.train_epoch(dataset, 32)
    assert model.epochs == 1 and model.steps == 10


def test_interrupt_from_another_thread_stops_fit():
    model = small_model()
    rows = binary_rows(2048)  # 32 steps of 64 an epoch
    fitting = threading.Event()
    stopped = threading.Event()

    def interrupter():
        fitting.wait()
        while not stopped.wait(0.01):
            model.interrupt()

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        with pytest.raises(libvae.Interrupted, match="vae_train_epoch: interrupted") as stop:
            fitting.set()
            model.fit(rows, epochs=100000, batch_size=64, progress=False)
    finally:
        stopped.set()
        thread.join()
    assert len(stop.value.history) == model.epochs < 100000
    assert 32 * model.epochs <= model.steps < 32 * (model.epochs + 1)


def test_a_progress_callback_cannot_use_its_own_model():
    model = small_model()
    dataset = model.dataset(binary_rows(64))
    with pytest.raises(libvae.InvalidArgumentError, match="busy"):
        model.train_epoch(dataset, 32, lambda *_: model.steps)
    assert model.epochs == 0 and model.steps == 1


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


def test_an_exception_in_an_evaluations_progress_stops_it_and_changes_nothing():
    rows = binary_rows(600)
    model, twin = small_model(eval_rows=512), small_model(eval_rows=512)
    dataset, twin_dataset = model.dataset(rows), twin.dataset(rows)

    class Stop(Exception):
        pass

    def stop(done, total, mean):
        raise Stop

    # 30,000 pairs in chunks of 512: the first call stops the second chunk.
    with pytest.raises(Stop):
        model.log_likelihood_dataset(dataset, k=50, progress=stop)
    with pytest.raises(Stop):
        model.evaluate_dataset(dataset, progress=stop)
    # No noise was drawn: the next estimate is the twin's first.
    assert model.log_likelihood_dataset(dataset, k=50) == twin.log_likelihood_dataset(twin_dataset, k=50)
