"""state_dict(): the checkpoint's PyTorch names and shapes, readable by the
safetensors package, loadable into PyTorch (where installed)."""
import numpy as np
import pytest

import libvae
from support import binary_rows, small_model

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def test_names_and_shapes_are_pytorch_linear_layers():
    model = small_model(hidden=(32, 16), latent_dim=3)
    shapes = {name: t.shape for name, t in model.state_dict().items()}
    assert shapes == {
        "encoder.0.weight": (32, 784), "encoder.0.bias": (32,),
        "encoder.1.weight": (16, 32), "encoder.1.bias": (16,),
        "encoder.2.weight": (6, 16), "encoder.2.bias": (6,),
        "decoder.0.weight": (16, 3), "decoder.0.bias": (16,),
        "decoder.1.weight": (32, 16), "decoder.1.bias": (32,),
        "decoder.2.weight": (784, 32), "decoder.2.bias": (784,),
    }
    assert sum(t.size for t in model.state_dict().values()) <= model.parameter_count


@pytest.mark.parametrize("variance, shape", [("shared", (1,)), ("per-dim", (784,))])
def test_a_learned_variance_is_decoder_log_variance(variance, shape):
    model = small_model(likelihood="gaussian", variance=variance, log_variance=-2.0)
    state = model.state_dict()
    assert state["decoder.log_variance"].shape == shape
    assert np.all(state["decoder.log_variance"] == np.float32(-2.0))


def test_the_safetensors_package_reads_the_same_tensors(tmp_path):
    model = small_model()
    for i in range(3):
        model.train_step(binary_rows(64, seed=i))
    model.save(tmp_path / "model.safetensors")
    from_file = safetensors_numpy.load_file(str(tmp_path / "model.safetensors"))
    state = model.state_dict()
    assert set(state) == {k for k in from_file if not k.startswith("optimizer.")}
    assert {k for k in from_file if k.startswith("optimizer.exp_avg.")} == \
        {"optimizer.exp_avg." + k for k in state}
    for name, tensor in state.items():
        assert tensor.dtype == np.float32 and np.array_equal(tensor, from_file[name])

    safetensors_numpy.save_file(state, str(tmp_path / "state.safetensors"))
    again = safetensors_numpy.load_file(str(tmp_path / "state.safetensors"))
    assert all(np.array_equal(again[k], v) for k, v in state.items())


def test_the_state_follows_set_parameters():
    model = small_model()
    before = model.state_dict()
    model.set_parameters(model.parameters() * 2)
    after = model.state_dict()
    assert all(np.array_equal(after[k], 2 * before[k]) for k in before)


def test_to_torch_matches_encode_and_decode():
    torch = pytest.importorskip("torch")
    for options in ({}, {"activation": "tanh", "hidden": (24, 12)},
                    {"likelihood": "gaussian", "variance": "per-dim"}):
        model = small_model(**options)
        for i in range(3):
            x = binary_rows(64, seed=i)
            model.train_step(x)
        module = model.to_torch()
        with torch.no_grad():
            mu, logvar = module.encode(torch.from_numpy(x))
            ours_mu, ours_logvar = model.encode(x)
            np.testing.assert_allclose(mu.numpy(), ours_mu, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(logvar.numpy(), ours_logvar, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(module.decode(mu).numpy(), model.decode(ours_mu),
                                       rtol=1e-5, atol=1e-5)
            mean, mu2, _ = module(torch.from_numpy(x))
            assert mean.shape == x.shape and torch.equal(mu2, mu)


def test_state_dict_loads_into_nn_linear_layers():
    torch = pytest.importorskip("torch")
    model = small_model(hidden=(32, 16))
    encoder = torch.nn.ModuleList([torch.nn.Linear(784, 32), torch.nn.Linear(32, 16),
                                   torch.nn.Linear(16, 8)])
    decoder = torch.nn.ModuleList([torch.nn.Linear(4, 16), torch.nn.Linear(16, 32),
                                   torch.nn.Linear(32, 784)])
    net = torch.nn.Module()
    net.encoder, net.decoder = encoder, decoder
    net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()},
                        strict=True)
    x = binary_rows(8)
    with torch.no_grad():
        h = torch.relu(encoder[1](torch.relu(encoder[0](torch.from_numpy(x)))))
        mu = encoder[2](h)[:, :4]
    np.testing.assert_allclose(mu.numpy(), model.encode(x)[0], rtol=1e-5, atol=1e-5)


def test_the_flat_parameters_round_trip():
    model, other = small_model(), small_model(seed=2)
    assert not np.array_equal(model.parameters(), other.parameters())
    other.set_parameters(model.parameters())
    assert np.array_equal(model.parameters(), other.parameters())
    assert model.parameters().shape == (model.parameter_count,)
