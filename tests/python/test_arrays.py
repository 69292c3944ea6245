"""Arrays in: float32 C order as it is, anything else converted once (float64,
Fortran order, slices, lists, uint8 for datasets) to the same results."""
import numpy as np
import pytest

import libvae
from support import binary_rows, small_model

x = binary_rows(48)


@pytest.mark.parametrize("layout", ["float64", "fortran", "sliced rows", "sliced columns", "list"])
def test_other_layouts_give_the_results_of_float32_c_order(layout):
    base = np.ascontiguousarray(binary_rows(96, dim=1568)[::2, ::2])  # 48 x 784
    given = {
        "float64": base.astype(np.float64),
        "fortran": np.asfortranarray(base),
        "sliced rows": binary_rows(96, dim=1568)[::2, ::2],
        "sliced columns": binary_rows(96, dim=1568)[::2, 784:],
        "list": base.tolist(),
    }[layout]
    expected_input = np.ascontiguousarray(given, dtype=np.float32)
    reference, model = small_model(), small_model()
    assert reference.train_step(expected_input) == model.train_step(given)
    assert np.array_equal(reference.parameters(), model.parameters())
    for a, b in zip(reference.encode(expected_input), model.encode(given)):
        assert np.array_equal(a, b)
    for a, b in zip(reference.evaluate(expected_input), model.evaluate(given)):
        assert np.array_equal(a, b)
    reference_dataset = reference.dataset(expected_input)
    assert reference.train_epoch(reference_dataset, 16) == model.train_epoch(model.dataset(given), 16)


def test_outputs_are_numpy_float32_of_the_documented_shapes():
    model = small_model()
    elbo, reconstruction, kl = model.evaluate(x)
    mu, logvar = model.encode(x)
    for array, shape in ((elbo, (48,)), (reconstruction, (48,)), (kl, (48,)), (mu, (48, 4)),
                         (logvar, (48, 4)), (model.decode(mu), (48, 784)),
                         (model.sample(5), (5, 784)), (model.log_likelihood(x, k=10), (48,))):
        assert isinstance(array, np.ndarray) and array.dtype == np.float32 and array.shape == shape
        assert array.flags.c_contiguous and array.flags.writeable
    np.testing.assert_allclose(elbo, reconstruction - kl, rtol=1e-5, atol=1e-4)
    assert np.all(kl >= 0) and np.all((model.sample(5) >= 0) & (model.sample(5) <= 1))


def test_the_importance_sampled_likelihood_bounds_the_elbo_from_above():
    model = small_model()
    model.fit(binary_rows(512), epochs=3, batch_size=64, progress=False)
    elbo = model.evaluate(x).elbo
    log_px = model.log_likelihood(x, k=200)
    assert np.mean(log_px) > np.mean(elbo)
    dataset = model.dataset(x)
    assert model.log_likelihood_dataset(dataset, k=200) > model.evaluate_dataset(dataset).elbo


def test_uint8_data_makes_a_byte_dataset_and_float_data_a_float_one():
    model = small_model()
    images = (x * 255).astype(np.uint8)
    assert len(model.dataset(images)) == 48
    assert len(model.dataset(images.astype(np.float32) / 255)) == 48
    as_float = model.evaluate_dataset(model.dataset(images.astype(np.float32) / 255))
    as_bytes = model.evaluate_dataset(model.dataset(images, "scale"))
    assert as_float.kl == pytest.approx(as_bytes.kl, rel=1e-6)


def test_a_read_only_array_is_taken():
    frozen = x.copy()
    frozen.setflags(write=False)
    assert np.isfinite(small_model().train_step(frozen))


def test_text_is_refused():
    with pytest.raises((TypeError, ValueError)):
        small_model().train_step([["a"] * 784])
    with pytest.raises(libvae.InvalidArgumentError, match="x"):
        small_model().train_step([[0.0] * 784, [0.0]])
