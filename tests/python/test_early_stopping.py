"""fit(patience=, best_path=, history=): early stopping on a scripted
validation ELBO (the model's evaluate_dataset replaced by a script of one
ELBO per epoch), the best model kept at best_path, a fit() resumed from an
earlier one's history stopping where the uninterrupted one stops, and every
bad argument refused before anything runs."""
import math

import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model

NAN = math.nan
ROWS = binary_rows(64, seed=5)  # one step of 64 an epoch
VALIDATION = binary_rows(32, seed=6)


def scripted(model, elbos, snapshots=None, fail_at=None):
    """The model's validation ELBO after epoch e is elbos[e - 1], whatever
    the call order; snapshots[e] keeps the parameters each epoch was
    validated with; the first validation of epoch fail_at raises Ctrl-C."""
    pending = {"fail_at": fail_at}

    def evaluate_dataset(dataset, progress=None):
        epoch = model.epochs
        if epoch == pending["fail_at"]:
            pending["fail_at"] = None
            raise KeyboardInterrupt
        if snapshots is not None:
            snapshots[epoch] = model.parameters()
        return libvae.Evaluation(elbos[epoch - 1], 0.0, 0.0)
    model.evaluate_dataset = evaluate_dataset
    return model


def fit(model, epochs, **options):
    return model.fit(ROWS, epochs=epochs, batch_size=64, validation=VALIDATION, progress=False,
                     **options)


def figures(history):
    """The history without its seconds."""
    return [{k: v for k, v in m.items() if k != "seconds"} for m in history]


@pytest.mark.parametrize("patience, elbos, stop, best", [
    # a tie (epoch 4) is no improvement; the run stops 3 epochs after epoch 5
    (3, [-50, -40, -45, -40, -39, -41, -42, -43, -10, -10], 8, 5),
    # a tie is no improvement: the first epoch of the best value stays best
    (2, [-10, -5, -5, -6, -1], 4, 2),
    (1, [-50, -40, -45, -10], 3, 2),
    # an improvement on the last epoch patience allows resets the count
    (3, [-10, -12, -11, -9, -9.5, -9.6, -9.7, -1], 7, 4),
    (2, [NAN, -7, NAN, -8, -1], 4, 2),  # NaN never improves
    (3, [-3, -2, -1], None, 3),  # fit()'s epochs end first
])
def test_fit_stops_at_the_scripted_epoch_and_keeps_the_best(tmp_path, patience, elbos, stop, best):
    snapshots = {}
    model = scripted(small_model(), elbos, snapshots)
    best_path = tmp_path / "best.safetensors"
    history = fit(model, len(elbos), patience=patience, best_path=best_path)

    epochs = stop or len(elbos)
    assert [m["epoch"] for m in history] == list(range(1, epochs + 1))
    assert model.epochs == epochs
    assert history[-1]["best_epoch"] == best
    assert history[-1]["epochs_without_improvement"] == epochs - best
    for m in history:
        assert m["validation_elbo"] == elbos[m["epoch"] - 1] or math.isnan(m["validation_elbo"])
        assert m["best_epoch"] is None or m["best_epoch"] <= m["epoch"]
    kept = libvae.load(best_path, backend="cpu")
    assert kept.epochs == best
    assert np.array_equal(kept.parameters(), snapshots[best])
    # The model stays the last epoch's.
    assert np.array_equal(model.parameters(), snapshots[epochs])


def test_the_progress_display_says_why_fit_stopped(tmp_path, capsys):
    model = scripted(small_model(), [-50, -40, -45, -10])
    model.fit(ROWS, epochs=4, batch_size=64, validation=VALIDATION, patience=1,
              best_path=tmp_path / "best.safetensors")
    assert ("early stop after epoch 3: the validation ELBO has not improved for 1 epoch(s) "
            "(patience 1); the best, -40 nats, is epoch 2's, saved in") in capsys.readouterr().err


def test_no_number_no_best(tmp_path):
    model = scripted(small_model(), [NAN, NAN, NAN])
    history = fit(model, 3, patience=2, best_path=tmp_path / "best.safetensors")
    assert len(history) == 2 and model.epochs == 2
    assert [m["best_epoch"] for m in history] == [None, None]
    assert [m["epochs_without_improvement"] for m in history] == [1, 2]
    assert not (tmp_path / "best.safetensors").exists()


def test_best_path_without_patience_trains_every_epoch(tmp_path):
    snapshots = {}
    model = scripted(small_model(), [-5, -4, -6, -7, -8], snapshots)
    history = fit(model, 5, best_path=tmp_path / "best.safetensors")
    assert len(history) == 5
    assert [m["best_epoch"] for m in history] == [1, 2, 2, 2, 2]
    assert np.array_equal(libvae.load(tmp_path / "best.safetensors").parameters(), snapshots[2])


def test_without_patience_or_best_path_the_dicts_are_as_before():
    history = fit(scripted(small_model(), [-5, -6]), 2)
    assert set(history[0]) == {"epoch", "loss", "seconds", "validation_elbo",
                               "validation_reconstruction", "validation_kl"}


# Patience 3 stops after epoch 13, epoch 10 the best; epoch 8 improves on
# the last epoch patience allows.
ELBOS = [-50, -40, -45, -44, -39, -41, -42, -38.5, -43, -38, -45, -46, -47, -10, -9]


def uninterrupted(tmp_path, patience=3):
    model = scripted(small_model(), ELBOS)
    history = fit(model, len(ELBOS), patience=patience, best_path=tmp_path / "whole.safetensors")
    return model, history


@pytest.mark.parametrize("first", [1, 5, 7, 12])
def test_a_resumed_fit_stops_as_the_uninterrupted_one(tmp_path, first):
    whole, expected = uninterrupted(tmp_path)
    assert len(expected) == 13 and expected[-1]["best_epoch"] == 10

    model = scripted(small_model(), ELBOS)
    best_path = tmp_path / "parts.safetensors"
    part = fit(model, first, patience=3, best_path=best_path)
    history = fit(model, len(ELBOS), patience=3, best_path=best_path, history=part)
    assert figures(history) == figures(expected)
    assert history[:first] == part  # extended, not changed: a copy
    assert np.array_equal(model.parameters(), whole.parameters())
    kept, whole_best = libvae.load(best_path), libvae.load(tmp_path / "whole.safetensors")
    assert kept.epochs == whole_best.epochs == 10
    assert np.array_equal(kept.parameters(), whole_best.parameters())


def test_a_fit_resumed_after_ctrl_c_in_validation_validates_first(tmp_path):
    whole, expected = uninterrupted(tmp_path)
    model = scripted(small_model(), ELBOS, fail_at=5)  # epoch 5 is a new best
    best_path = tmp_path / "parts.safetensors"
    with pytest.raises(KeyboardInterrupt) as stop:
        fit(model, len(ELBOS), patience=3, best_path=best_path)
    partial = stop.value.history
    assert [m["epoch"] for m in partial] == [1, 2, 3, 4, 5] and "validation_elbo" not in partial[-1]
    assert libvae.load(best_path).epochs == 2  # epoch 5's save never came

    history = fit(model, len(ELBOS), patience=3, best_path=best_path, history=partial)
    assert figures(history) == figures(expected)
    assert np.array_equal(libvae.load(best_path).parameters(),
                          libvae.load(tmp_path / "whole.safetensors").parameters())


def test_the_best_epoch_last_is_saved_again_on_resume(tmp_path):
    """A Ctrl-C between an improving epoch's validation and its save leaves
    an older best_path: the resume saves the model, whose epoch is the best."""
    model = scripted(small_model(), ELBOS)
    best_path = tmp_path / "best.safetensors"
    part = fit(model, 5, patience=3)  # epoch 5 is a new best, saved nowhere
    assert part[-1]["best_epoch"] == 5
    fit(model, 0, patience=3, best_path=best_path, history=part)
    assert libvae.load(best_path).epochs == 5
    assert np.array_equal(libvae.load(best_path).parameters(), model.parameters())


def test_a_stopped_history_trains_nothing(tmp_path):
    model, history = uninterrupted(tmp_path)
    before = Snapshot(model)
    again = fit(model, 10, patience=3, history=history)
    assert again == history and again is not history
    assert before.unchanged()


def test_a_real_validation_elbo_keeps_its_best(tmp_path):
    """Without a script: the library's own ELBOs; best_path holds the model
    that a fit() of the best epoch's count makes."""
    model = small_model()
    history = fit(model, 6, patience=2, best_path=tmp_path / "best.safetensors")
    elbos = [m["validation_elbo"] for m in history]
    best = history[-1]["best_epoch"]
    assert elbos.index(max(elbos)) == best - 1
    shorter = small_model()
    fit(shorter, best)
    kept = libvae.load(tmp_path / "best.safetensors")
    assert kept.epochs == best
    assert np.array_equal(kept.parameters(), shorter.parameters())


@pytest.mark.parametrize("options, message", [
    (dict(patience=0), "patience: must be at least 1, got 0"),
    (dict(patience=-3), "patience: must be at least 1"),
    (dict(patience=1.5), "patience: expected an integer, got float"),
    (dict(patience="3"), "patience: expected an integer, got str"),
    (dict(patience=2**63), "patience: must be in"),
    (dict(best_path=5), "best_path: expected a path, got int"),
    (dict(best_path=""), "best_path: '' is not a file name"),
    (dict(best_path="a\0b"), "is not a file name"),
    (dict(best_path="/no/such/folder/best.safetensors"), "the folder /no/such/folder does not exist"),
    (dict(history=5), r"history: expected the list of dicts a fit\(\) returned, got int"),
    (dict(history={"epoch": 1}), "history: expected the list"),
    (dict(history=[1]), r"history\[0\]: expected a dict"),
    (dict(history=[{"epoch": 1}, {"epoch": 3}]), r"history\[1\]: epoch 3 follows epoch 1"),
    (dict(history=[{"epoch": 1}]), "history: ends at epoch 1, but the model has trained 0 epochs"),
])
def test_bad_arguments_are_refused_before_anything_runs(tmp_path, options, message):
    model = small_model()
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError, match=message) as refused:
        fit(model, 2, **options)
    assert isinstance(refused.value, ValueError)
    assert before.unchanged()


@pytest.mark.parametrize("options", [dict(patience=2), dict(best_path="best.safetensors")])
def test_patience_and_best_path_need_validation(options):
    model = small_model()
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError, match="needs validation data"):
        model.fit(ROWS, epochs=2, batch_size=64, progress=False, **options)
    assert before.unchanged()


def test_histories_that_cannot_be_continued_are_refused(tmp_path):
    model = scripted(small_model(), ELBOS)
    plain = model.fit(ROWS, epochs=3, batch_size=64, progress=False)  # no validation figures
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError, match=r"history\[0\]: epoch 1 has no valid"):
        fit(model, 2, patience=2, history=plain)
    assert before.unchanged()

    model, stopped = uninterrupted(tmp_path, patience=3)  # stops after epoch 13
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError,
                       match="with patience 1 the run stops after epoch 3, but history goes on"):
        fit(model, 2, patience=1, history=stopped)
    assert before.unchanged()
