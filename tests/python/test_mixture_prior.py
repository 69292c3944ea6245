"""VAE(prior_components=K): a learned mixture-of-Gaussians prior, its
tensors in state_dict(), trained, evaluated with the sampled KL, sampled
from, saved and loaded; the option's range and that it is fixed."""
import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model


def test_a_mixture_prior_is_trained_evaluated_and_sampled():
    model = small_model(prior_components=3)
    assert model.prior_components == 3
    assert small_model().prior_components == 0
    state = model.state_dict()
    assert state["prior.means"].shape == (3, 4)
    assert state["prior.log_variances"].shape == (3, 4)
    assert state["prior.logits"].shape == (3,)
    assert np.all(state["prior.log_variances"] == 0) and np.all(state["prior.logits"] == 0)
    before = model.state_dict()["prior.means"].copy()
    x = binary_rows(64)
    losses = [model.train_step(x) for _ in range(20)]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert not np.array_equal(model.state_dict()["prior.means"], before)
    result = model.evaluate(x)
    assert np.all(np.isfinite(result.kl))
    np.testing.assert_allclose(result.elbo, result.reconstruction - result.kl, rtol=1e-5, atol=1e-4)
    assert np.all(np.isfinite(model.log_likelihood(x[:4], k=50, estimator="prior")))
    assert model.sample(5).shape == (5, 784)


def test_a_mixture_prior_is_saved_and_loaded(tmp_path):
    model = small_model(prior_components=2)
    x = binary_rows(64)
    for _ in range(3):
        model.train_step(x)
    model.save(tmp_path / "m.safetensors")
    loaded = libvae.load(tmp_path / "m.safetensors", backend="cpu")
    assert loaded.prior_components == 2
    for name, tensor in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[name], tensor)
    assert loaded.train_step(x) == model.train_step(x)


@pytest.mark.parametrize("value", [-1, 1025])
def test_out_of_range_components_are_refused(value):
    with pytest.raises(libvae.InvalidArgumentError, match="VAE_OPT_PRIOR_COMPONENTS"):
        small_model(prior_components=value)


def test_the_components_are_fixed_when_the_model_is_made():
    model = small_model(prior_components=2)
    snapshot = Snapshot(model)
    with pytest.raises(AttributeError):
        model.prior_components = 3
    assert snapshot.unchanged()
    assert model.prior_components == 2


def test_to_torch_holds_the_prior():
    torch = pytest.importorskip("torch")
    model = small_model(prior_components=2)
    model.train_step(binary_rows(64))
    module = model.to_torch()
    state = model.state_dict()
    for name in ("means", "log_variances", "logits"):
        assert torch.equal(getattr(module.prior, name).detach(),
                           torch.from_numpy(state["prior." + name].copy()))
