"""VAE(condition_dim=C): a conditional VAE, each row with a condition c,
q(z | x, c) and p(x | z, c). Conditions as class labels or (n, C) floats,
in every call with rows and in datasets; rows of c = 0 are the model
without conditions whose first layers lack c's columns; the classes decode
differently; bad shapes, labels and missing or unwanted conditions are
refused, changing nothing; a checkpoint keeps C; state_dict() and to_torch()
hold the wider first layers."""
import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model

C = 3
HIDDEN = 32
LATENT = 4


def conditional(**options):
    return small_model(condition_dim=C, **options)


def labels(rows, seed=0):
    return np.random.default_rng(seed).integers(0, C, rows).astype(np.uint8)


def one_hot(classes):
    return np.eye(C, dtype=np.float32)[classes]


def flat(state, names):
    """The parameters of a state_dict as set_parameters takes them: the
    tensors back to back in the model's order (vae.h, parameter layout)."""
    return np.concatenate([state[name].ravel() for name in names]).astype(np.float32)


# A model of one hidden layer: its tensors in their flat order.
ORDER = ["encoder.0.weight", "encoder.0.bias", "encoder.1.weight", "encoder.1.bias",
         "decoder.0.weight", "decoder.0.bias", "decoder.1.weight", "decoder.1.bias"]


def test_the_first_layers_take_the_condition_columns():
    model = conditional()
    assert model.condition_dim == C and small_model().condition_dim == 0
    shapes = {name: t.shape for name, t in model.state_dict().items()}
    assert shapes["encoder.0.weight"] == (HIDDEN, 784 + C)
    assert shapes["decoder.0.weight"] == (HIDDEN, LATENT + C)
    assert shapes["encoder.1.weight"] == (2 * LATENT, HIDDEN)
    assert np.array_equal(flat(model.state_dict(), ORDER), model.parameters())


def test_fit_with_labels_trains_and_validates():
    model = conditional()
    x, y = binary_rows(200, seed=1), labels(200, seed=1)
    history = model.fit(x[:160], epochs=4, batch_size=32, progress=False, condition=y[:160],
                        validation=x[160:], validation_condition=y[160:])
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert all(np.isfinite(h["loss"]) and np.isfinite(h["validation_elbo"]) for h in history)
    assert history[-1]["loss"] < history[0]["loss"]
    assert history[-1]["validation_elbo"] > history[0]["validation_elbo"]


def test_labels_and_their_one_hot_rows_are_the_same_conditions():
    x, y = binary_rows(96, seed=2), labels(96, seed=2)
    by_labels, by_floats = conditional(), conditional()
    with_labels = by_labels.fit(x, epochs=2, batch_size=32, progress=False, condition=y)
    with_floats = by_floats.fit(x, epochs=2, batch_size=32, progress=False, condition=one_hot(y))
    assert [h["loss"] for h in with_labels] == [h["loss"] for h in with_floats]
    assert np.array_equal(by_labels.parameters(), by_floats.parameters())
    assert by_labels.train_step(x[:40], condition=y[:40]) == by_floats.train_step(
        x[:40], condition=one_hot(y[:40]))
    for name, a, b in (("evaluate", by_labels.evaluate(x, y), by_floats.evaluate(x, one_hot(y))),
                       ("encode", by_labels.encode(x, y), by_floats.encode(x, one_hot(y))),
                       ("log_likelihood", by_labels.log_likelihood(x[:8], k=20, condition=y[:8]),
                        by_floats.log_likelihood(x[:8], k=20, condition=one_hot(y[:8]))),
                       ("sample", by_labels.sample(6, y[:6]), by_floats.sample(6, one_hot(y[:6])))):
        for got, want in zip(a, b):
            assert np.array_equal(got, want), name
    # Labels of any integer dtype, and a list, are labels.
    z = np.random.default_rng(3).standard_normal((5, LATENT)).astype(np.float32)
    want = by_labels.decode(z, one_hot(y[:5]))
    for given in (y[:5].astype(np.int64), y[:5].astype(np.int32), list(map(int, y[:5]))):
        assert np.array_equal(by_labels.decode(z, given), want)


def test_a_dataset_of_labels_and_one_of_floats_train_alike():
    x, y = binary_rows(100, seed=4), labels(100, seed=4)
    a, b = conditional(), conditional()
    set_a, set_b = a.dataset(x, condition=y), b.dataset(x, condition=one_hot(y))
    assert len(set_a) == 100
    assert a.train_epoch(set_a, 25) == b.train_epoch(set_b, 25)
    assert np.array_equal(a.parameters(), b.parameters())
    assert a.evaluate_dataset(set_a) == b.evaluate_dataset(set_b)
    assert np.isfinite(a.log_likelihood_dataset(set_a, k=10))
    usage = a.latent_usage(x, condition=y, mi_rows=20)
    assert usage["kl"].shape == (LATENT,) and np.isfinite(usage["mutual_information"])
    # Byte data takes labels as float data does.
    bytes_set = a.dataset((x * 255).astype(np.uint8), condition=y)
    assert np.isfinite(a.train_epoch(bytes_set, 50))


def test_rows_of_zero_condition_are_the_model_without_conditions():
    plain = small_model()
    model = conditional()
    state = plain.state_dict()
    rng = np.random.default_rng(5)
    # The condition's columns get weights of their own, which c = 0 must leave out.
    wider = dict(state)
    wider["encoder.0.weight"] = np.concatenate(
        [state["encoder.0.weight"], rng.standard_normal((HIDDEN, C)).astype(np.float32)], axis=1)
    wider["decoder.0.weight"] = np.concatenate(
        [state["decoder.0.weight"], rng.standard_normal((HIDDEN, C)).astype(np.float32)], axis=1)
    model.set_parameters(flat(wider, ORDER))
    assert np.array_equal(model.state_dict()["encoder.0.weight"], wider["encoder.0.weight"])

    x = binary_rows(40, seed=6)
    zero = np.zeros((40, C), np.float32)
    z = rng.standard_normal((40, LATENT)).astype(np.float32)
    for got, want in zip(model.encode(x, zero), plain.encode(x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.decode(z, zero), plain.decode(z), rtol=1e-5, atol=1e-6)
    for got, want in zip(model.evaluate(x, zero), plain.evaluate(x)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    assert model.train_step(x, condition=zero) == pytest.approx(plain.train_step(x), rel=1e-5)
    # The step moved the shared parameters alike, and not the condition's columns.
    after = model.state_dict()
    np.testing.assert_array_equal(after["encoder.0.weight"][:, 784:],
                                  wider["encoder.0.weight"][:, 784:])
    np.testing.assert_allclose(after["encoder.0.weight"][:, :784],
                               plain.state_dict()["encoder.0.weight"], rtol=1e-5, atol=1e-6)


def test_the_classes_decode_to_different_means():
    model = conditional()
    x, y = binary_rows(120, seed=7), labels(120, seed=7)
    model.fit(x, epochs=2, batch_size=40, progress=False, condition=y)
    z = np.zeros((1, LATENT), np.float32)
    means = [model.decode(z, [k])[0] for k in range(C)]
    for a in range(C):
        for b in range(a + 1, C):
            assert np.max(np.abs(means[a] - means[b])) > 1e-3, (a, b)
    samples = model.sample(2 * C, np.repeat(np.arange(C), 2))
    assert samples.shape == (2 * C, 784) and np.all((samples >= 0) & (samples <= 1))


def test_the_inference_gap_and_refinement_take_conditions():
    model = conditional()
    x, y = binary_rows(6, seed=8), labels(6, seed=8)
    gap = model.inference_gap(x, steps=3, k=20, elbo_samples=5, condition=y)
    assert np.isfinite(gap["amortization_gap"]) and gap["rows"]["mu"].shape == (6, LATENT)
    stats = model.log_likelihood(x, k=10, stats=True, condition=one_hot(y))
    assert stats["log_px"].shape == (6,) and np.all(stats["k_used"] == 10)


def test_a_checkpoint_keeps_the_conditions(tmp_path):
    model = conditional()
    x, y = binary_rows(64, seed=9), labels(64, seed=9)
    for _ in range(3):
        model.train_step(x, condition=y)
    model.save(tmp_path / "c.safetensors")
    loaded = libvae.load(tmp_path / "c.safetensors", backend="cpu")
    assert loaded.condition_dim == C
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], tensor)
    for got, want in zip(loaded.encode(x, y), model.encode(x, y)):
        np.testing.assert_array_equal(got, want)
    assert loaded.train_step(x, condition=y) == model.train_step(x, condition=y)
    with pytest.raises(libvae.InvalidArgumentError, match="conditional"):
        loaded.evaluate(x)


x8, y8 = binary_rows(8, seed=10), labels(8, seed=10)
z8 = np.zeros((8, LATENT), np.float32)

CONDITION_CALLS = {
    "train_step": lambda m, c: m.train_step(x8, condition=c),
    "evaluate": lambda m, c: m.evaluate(x8, c),
    "log_likelihood": lambda m, c: m.log_likelihood(x8, k=5, condition=c),
    "log_likelihood stats": lambda m, c: m.log_likelihood(x8, k=5, stats=True, condition=c),
    "encode": lambda m, c: m.encode(x8, c),
    "decode": lambda m, c: m.decode(z8, c),
    "sample": lambda m, c: m.sample(8, c),
    "inference_gap": lambda m, c: m.inference_gap(x8, steps=1, k=5, elbo_samples=2, condition=c),
    "dataset": lambda m, c: m.dataset(x8, condition=c),
    "fit": lambda m, c: m.fit(x8, epochs=1, progress=False, condition=c),
    "latent_usage": lambda m, c: m.latent_usage(x8, condition=c),
}


@pytest.mark.parametrize("call", list(CONDITION_CALLS))
def test_a_conditional_model_refuses_rows_without_conditions(call):
    model = conditional()
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError, match=r"conditional \(condition_dim = 3\)"):
        CONDITION_CALLS[call](model, None)
    assert before.unchanged()


@pytest.mark.parametrize("call", list(CONDITION_CALLS))
def test_a_model_without_conditions_refuses_them(call):
    model = small_model()
    before = Snapshot(model)
    with pytest.raises(libvae.InvalidArgumentError, match="takes no conditions"):
        CONDITION_CALLS[call](model, y8)
    assert before.unchanged()


BAD_CONDITIONS = {
    # name: (condition, words the message must hold)
    "too narrow": (np.zeros((8, C - 1), np.float32), ["condition", "(8, 2)", "(n, 3)"]),
    "too wide": (np.zeros((8, C + 1), np.float32), ["condition", "(8, 4)", "(n, 3)"]),
    "too few rows": (np.zeros((7, C), np.float32), ["condition", "7 rows", "8 rows"]),
    "too many labels": (labels(9), ["condition", "9 rows", "8 rows"]),
    "a label of no class": (np.array([0, 1, 2, 3, 0, 1, 2, 0]), ["row 3", "label 3", "[0, 3)"]),
    "a negative label": (np.array([0, -1, 2, 1, 0, 1, 2, 0]), ["row 1", "label -1"]),
    "float labels": (y8.astype(np.float32), ["condition", "(8,)", "(n, 3)"]),
    "not a number": (np.full((8, C), np.nan, np.float32), ["condition", "row 0"]),
}


@pytest.mark.parametrize("bad", list(BAD_CONDITIONS))
@pytest.mark.parametrize("call", ["train_step", "evaluate", "encode", "decode", "sample"])
def test_bad_conditions_are_refused(call, bad):
    model = conditional()
    before = Snapshot(model)
    condition, words = BAD_CONDITIONS[bad]
    with pytest.raises(libvae.InvalidArgumentError) as refused:
        CONDITION_CALLS[call](model, condition)
    for word in words:
        assert word in str(refused.value), (word, str(refused.value))
    assert before.unchanged()


def test_bad_dataset_conditions_are_refused():
    model = conditional()
    with pytest.raises(libvae.InvalidArgumentError, match="7 labels for the dataset's 8 rows"):
        model.dataset(x8, condition=y8[:7])
    with pytest.raises(libvae.InvalidArgumentError, match=r"\(7, 3\)"):
        model.dataset(x8, condition=one_hot(y8[:7]))
    with pytest.raises(libvae.InvalidArgumentError, match="label 5"):
        model.dataset(x8, condition=np.full(8, 5))
    with pytest.raises(libvae.InvalidArgumentError, match="validation_condition"):
        model.fit(x8, epochs=1, progress=False, condition=y8, validation_condition=y8)
    with pytest.raises(libvae.InvalidArgumentError, match="conditional"):
        model.fit(x8, epochs=1, progress=False, condition=y8, validation=x8)


def test_the_library_refuses_a_dataset_without_conditions():
    # The extension's own dataset, without the conditions VAE.dataset gives it.
    model = conditional()
    bare = model._trainer.dataset(x8)
    with pytest.raises(libvae.InvalidArgumentError, match="condition"):
        model.train_epoch(bare, 8)
    with pytest.raises(libvae.InvalidArgumentError, match="condition"):
        model.evaluate_dataset(bare)
    with pytest.raises(libvae.InvalidArgumentError, match="another trainer"):
        conditional()._trainer.set_dataset_labels(bare, y8)


@pytest.mark.parametrize("value", [-1, 2 ** 20 + 1])
def test_out_of_range_condition_dims_are_refused(value):
    with pytest.raises(libvae.InvalidArgumentError, match="VAE_OPT_CONDITION_DIM"):
        small_model(condition_dim=value)


def test_the_condition_dim_is_fixed_when_the_model_is_made():
    model = conditional()
    with pytest.raises(AttributeError):
        model.condition_dim = 4
    assert model.condition_dim == C


def test_to_torch_takes_the_conditions():
    torch = pytest.importorskip("torch")
    model = conditional()
    model.train_step(x8, condition=y8)
    module = model.to_torch()
    c = torch.from_numpy(one_hot(y8))
    mu, logvar = module.encode(torch.from_numpy(x8), c)
    want_mu, want_logvar = model.encode(x8, y8)
    np.testing.assert_allclose(mu.detach().numpy(), want_mu, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(logvar.detach().numpy(), want_logvar, rtol=1e-4, atol=1e-5)
    z = torch.from_numpy(z8)
    np.testing.assert_allclose(module.decode(z, c).detach().numpy(), model.decode(z8, y8),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="condition"):
        module.decode(z)
