"""The decoder-predicted variance from Python: variance="decoder" and
min_log_variance as arguments and properties, decode's D means, the model in
PyTorch (means and bounded log variances), checkpoints, and refusals."""
import numpy as np
import pytest

import libvae
from support import small_model


def uniform_rows(rows, dim=784, seed=0):
    return np.random.default_rng(seed).random((rows, dim), dtype=np.float32)


def decoder_model(**options):
    settings = dict(likelihood="gaussian", variance="decoder", min_log_variance=-6.0)
    settings.update(options)
    return small_model(**settings)


def test_the_options_are_read_back_and_decode_gives_the_means():
    model = decoder_model()
    assert model.variance == "decoder"
    assert model.min_log_variance == -6.0
    assert libvae.VAE(likelihood="gaussian", backend="cpu").min_log_variance == -9.0
    x = uniform_rows(64)
    loss = model.train_step(x)
    assert np.isfinite(loss)
    mu, _ = model.encode(x[:5])
    assert model.decode(mu).shape == (5, 784)
    assert model.sample(3).shape == (3, 784)
    assert np.all(np.isfinite(model.log_likelihood(x[:4], k=10)))
    # The decoder's last layer is 2 * 784 wide: the means, then the log-variance outputs.
    state = model.state_dict()
    assert state["decoder.1.weight"].shape == (2 * 784, 32)
    assert "decoder.log_variance" not in state
    # decode is the first half of the last layer's outputs (what to_torch reads).
    h = np.maximum(mu @ state["decoder.0.weight"].T + state["decoder.0.bias"], 0.0)
    w, b = state["decoder.1.weight"], state["decoder.1.bias"]
    np.testing.assert_allclose(model.decode(mu), h @ w[:784].T + b[:784], rtol=1e-4, atol=1e-4)


def test_to_torch_gives_the_means_and_the_bounded_log_variances():
    torch = pytest.importorskip("torch")
    model = decoder_model()
    x = uniform_rows(64, seed=1)
    for _ in range(3):
        model.train_step(x)
    module = model.to_torch()
    mu, _ = model.encode(x[:6])
    with torch.no_grad():
        mean, log_variance = module.decode_variance(torch.from_numpy(mu))
        np.testing.assert_allclose(module.decode(torch.from_numpy(mu)).numpy(), model.decode(mu),
                                   rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean.numpy(), model.decode(mu), rtol=1e-5, atol=1e-5)
    assert log_variance.shape == (6, 784)
    assert float(log_variance.min()) > -6.0
    # Their Gaussian log-likelihood of x at the encoder's means, against the
    # library's reconstruction term there (k = 1 sample at z = mu is not
    # what evaluate does, so compare the formula only through its parts).
    state = model.state_dict()
    w, b = state["decoder.1.weight"], state["decoder.1.bias"]
    with torch.no_grad():
        h = torch.relu(module.decoder[0](torch.from_numpy(mu))).numpy()
    o = h @ w[784:].T + b[784:]
    np.testing.assert_allclose(log_variance.numpy(), -6.0 + np.logaddexp(0.0, o + 6.0),
                               rtol=1e-5, atol=1e-5)


def test_checkpoints_keep_the_variance_and_its_bound(tmp_path):
    model = decoder_model()
    x = uniform_rows(64, seed=2)
    model.train_step(x)
    path = tmp_path / "decoder.safetensors"
    model.save(path)
    loaded = libvae.load(path, backend="cpu")
    assert (loaded.variance, loaded.min_log_variance) == ("decoder", -6.0)
    assert loaded.train_step(x) == model.train_step(x)
    np.testing.assert_array_equal(loaded.parameters(), model.parameters())


def test_bad_values_are_refused():
    for bad in (-31.0, 31.0, float("nan")):
        with pytest.raises(ValueError, match="MIN_LOG_VARIANCE"):
            decoder_model(min_log_variance=bad)
    with pytest.raises(ValueError, match="MIN_LOG_VARIANCE"):
        decoder_model(log_variance=-7.0)
    with pytest.raises(ValueError):
        small_model(variance="decoder")  # Bernoulli
    model = decoder_model()
    with pytest.raises((ValueError, AttributeError)):
        model.min_log_variance = -3.0
    assert model.min_log_variance == -6.0
