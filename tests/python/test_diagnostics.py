"""The diagnostics from Python: log_likelihood(stats=True) and adaptive K,
their dataset forms, and latent_usage(); checked against the plain
estimate, a computation from stored weights of the same noise, and
encode()'s outputs, with bad arguments refused by the library's messages."""
import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model


def trained():
    model = small_model(seed=3)
    data = binary_rows(256, seed=1)
    for _ in range(20):
        model.train_step(data[:64])
    return model


def twin(model):
    """A fresh model with model's parameters: its first call draws the noise
    the first call of every such twin draws."""
    other = small_model(seed=3)
    other.set_parameters(model.parameters())
    return other


def test_stats_equal_the_estimate_and_the_stored_weights():
    model = trained()
    x = binary_rows(10, seed=2)
    k = 40
    s = twin(model).log_likelihood(x, k, stats=True)
    assert set(s) == {"log_px", "std_error", "ess", "k_used"}
    np.testing.assert_array_equal(s["log_px"], twin(model).log_likelihood(x, k))
    assert s["k_used"].dtype == np.int32 and (s["k_used"] == k).all()
    # Each row repeated k times, one sample each: pair r k + s draws the same noise.
    log_w = twin(model).log_likelihood(np.repeat(x, k, axis=0), 1).astype(np.float64).reshape(10, k)
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    ess = w.sum(1) ** 2 / (w ** 2).sum(1)
    se = np.sqrt(w.var(axis=1, ddof=1) / k) / w.mean(1)
    np.testing.assert_allclose(s["ess"], ess, rtol=1e-4)
    np.testing.assert_allclose(s["std_error"], se, rtol=1e-4)
    assert ((1 <= s["ess"]) & (s["ess"] <= k)).all()


def test_adaptive_k_equals_the_fixed_call_at_the_k_it_reports():
    model = trained()
    x = binary_rows(12, seed=4)
    target = float(np.median(twin(model).log_likelihood(x, 16, stats=True)["std_error"]))
    a = twin(model).log_likelihood(x, 4, target_std_error=target, k_max=128)
    for k in np.unique(a["k_used"]):
        fixed = twin(model).log_likelihood(x, int(k), stats=True)
        rows = a["k_used"] == k
        for name in ("log_px", "std_error", "ess"):
            np.testing.assert_array_equal(a[name][rows], fixed[name][rows])
    assert ((a["std_error"] <= target) | (a["k_used"] == 128)).all()
    assert a["k_used"].min() < 128


def test_dataset_form_gives_the_means():
    model = trained()
    x = binary_rows(30, seed=5)
    rows = twin(model).log_likelihood(x, 8, target_std_error=0.1, k_max=64)
    other = twin(model)
    seen = []
    means = other.log_likelihood_dataset(other.dataset(x), 8, target_std_error=0.1, k_max=64,
                                         progress=lambda done, total, mean: seen.append(done))
    assert means["log_px"] == pytest.approx(rows["log_px"].astype(np.float64).mean(), rel=1e-9)
    assert means["std_error"] == pytest.approx(
        np.sqrt((rows["std_error"].astype(np.float64) ** 2).sum()) / 30, rel=1e-9)
    assert means["k_used"] == pytest.approx(rows["k_used"].mean())
    assert seen and seen[-1] == 30


def test_bad_options_are_refused_and_change_nothing():
    model = trained()
    x = binary_rows(5, seed=6)
    before = Snapshot(model)
    for kwargs, name in [(dict(target_std_error=0.0, k_max=10), "target_std_error"),
                         (dict(target_std_error=-1.0, k_max=10), "target_std_error"),
                         (dict(k_max=10), "target_std_error"),
                         (dict(target_std_error=0.1), "k_max"),
                         (dict(target_std_error=0.1, k_max=2), "k_max")]:
        with pytest.raises(libvae.InvalidArgumentError, match=name):
            model.log_likelihood(x, 4, **kwargs)
    with pytest.raises(libvae.InvalidArgumentError, match="active_threshold"):
        model.latent_usage(x, threshold=-1)
    with pytest.raises(libvae.InvalidArgumentError, match="mi_samples"):
        model.latent_usage(x, mi_samples=0)
    assert before.unchanged()
    # Nothing was drawn: the next call is a fresh twin's first.
    np.testing.assert_array_equal(model.log_likelihood(x, 4, stats=True)["std_error"],
                                  twin(model).log_likelihood(x, 4, stats=True)["std_error"])


def test_latent_usage_equals_a_computation_from_encode():
    model = trained()
    x = binary_rows(80, seed=7)
    u = model.latent_usage(x, mi_rows=20)
    mu, logvar = (a.astype(np.float64) for a in model.encode(x))
    kl = 0.5 * (mu ** 2 + np.exp(logvar) - logvar - 1).mean(0)
    np.testing.assert_allclose(u["kl"], kl, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(u["activity"], mu.var(0, ddof=1), rtol=1e-9, atol=1e-12)
    assert u["active_units"] == int((mu.var(0, ddof=1) > 0.01).sum())
    assert u["active"].tolist() == (mu.var(0, ddof=1) > 0.01).tolist()
    assert u["kl_total"] == pytest.approx(kl.sum(), rel=1e-9)
    assert u["marginal_kl"] == pytest.approx(u["kl_total"] - u["mutual_information"])
    assert -3 * u["mutual_information_std_error"] <= u["mutual_information"] <= np.log(80)


def test_inference_gap_splits_the_bound_and_changes_nothing():
    model = trained()
    x = binary_rows(12, seed=4)
    before = Snapshot(model)
    gap = model.inference_gap(x, steps=60, k=200, elbo_samples=20, learning_rate=0.05)
    assert before.unchanged()
    rows = gap["rows"]
    assert rows["mu"].shape == (12, model.latent_dim)
    # The two gaps add up to log p(x) - ELBO(encoder), row by row.
    np.testing.assert_allclose(rows["approximation_gap"] + rows["amortization_gap"],
                               rows["log_px"] - rows["elbo_encoder"], rtol=0, atol=1e-4)
    for name in ("log_px", "elbo_refined", "elbo_encoder", "approximation_gap",
                 "amortization_gap"):
        assert gap[name] == pytest.approx(rows[name].mean())
        assert gap[name + "_std_error"] == pytest.approx(rows[name].std(ddof=1) / np.sqrt(12))
    # Refining each row's q improves its bound (the same noise before and after).
    assert gap["amortization_gap"] > 0
    assert (rows["elbo_refined"] > rows["elbo_encoder"]).mean() > 0.8
    # Zero steps: the encoder's parameters, and no amortization gap.
    still = model.inference_gap(x, steps=0, k=10, elbo_samples=5)
    np.testing.assert_array_equal(still["rows"]["mu"], model.encode(x)[0])
    np.testing.assert_array_equal(still["rows"]["amortization_gap"], 0)


@pytest.mark.parametrize("argument, value", [("steps", -1), ("samples", 0),
                                             ("elbo_samples", 0), ("learning_rate", 0.0)])
def test_inference_gap_refuses_bad_arguments(argument, value):
    model = trained()
    with pytest.raises(libvae.InvalidArgumentError, match=argument):
        model.inference_gap(binary_rows(3, seed=5), k=10, **{argument: value})
