"""Every bad input raises the class of its documented vae_status (which is
also the matching builtin exception) and leaves the model as it was."""
import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model

BUILTIN = {
    libvae.InvalidArgumentError: ValueError,
    libvae.OutOfMemoryError: MemoryError,
    libvae.DeviceError: RuntimeError,
    libvae.InputOutputError: OSError,
    libvae.FormatError: ValueError,
    libvae.NumericalError: ArithmeticError,
    libvae.UnsupportedError: NotImplementedError,
    libvae.InternalError: RuntimeError,
}


@pytest.mark.parametrize("cls", list(BUILTIN))
def test_each_status_has_a_class_under_error_and_its_builtin(cls):
    assert issubclass(cls, libvae.Error) and issubclass(cls, BUILTIN[cls])
    assert libvae._errors.error_class(int(cls.status)) is cls


def test_interrupted_is_an_error_and_not_a_keyboard_interrupt():
    assert libvae._errors.error_class(int(libvae._libvae.Status.INTERRUPTED)) is libvae.Interrupted
    assert issubclass(libvae.Interrupted, libvae.Error)
    assert not issubclass(libvae.Interrupted, KeyboardInterrupt)


@pytest.fixture
def trained():
    model = small_model()
    model.train_step(binary_rows(64))
    return model


x = binary_rows(8)

BAD_CALLS = {
    # name: (call on the model, expected class, words the message must hold)
    "x too narrow": (lambda m: m.train_step(x[:, :783]), libvae.InvalidArgumentError,
                     ["x", "(8, 783)", "(n, 784)"]),
    "x one-dimensional": (lambda m: m.evaluate(x[0]), libvae.InvalidArgumentError, ["x", "(784,)"]),
    "x three-dimensional": (lambda m: m.encode(x[None]), libvae.InvalidArgumentError,
                            ["x", "(1, 8, 784)"]),
    "x without rows": (lambda m: m.train_step(x[:0]), libvae.InvalidArgumentError, ["x", "(0, 784)"]),
    "z too wide": (lambda m: m.decode(np.zeros((2, 5))), libvae.InvalidArgumentError,
                   ["z", "(2, 5)", "(n, 4)"]),
    "more rows than max_batch": (lambda m: m.train_step(binary_rows(65)), libvae.InvalidArgumentError,
                                 ["n"]),
    "k of 0": (lambda m: m.log_likelihood(x, k=0), libvae.InvalidArgumentError, ["k"]),
    "unknown estimator": (lambda m: m.log_likelihood(x, estimator="exact"),
                          libvae.InvalidArgumentError, ["estimator", "'exact'"]),
    "no samples": (lambda m: m.sample(0), libvae.InvalidArgumentError, ["n"]),
    "too many samples for memory": (lambda m: m.sample(2 ** 40), libvae.OutOfMemoryError, []),
    "a count beyond size_t": (lambda m: m.sample(2 ** 62), libvae.OutOfMemoryError, []),
    "parameters of the wrong length": (lambda m: m.set_parameters(np.zeros(10)),
                                       libvae.InvalidArgumentError, ["parameters", "(10,)"]),
    "non-finite parameters": (lambda m: m.set_parameters(np.full(m.parameter_count, np.nan)),
                              libvae.InvalidArgumentError, []),
    "a dataset of the wrong width": (lambda m: m.dataset(np.zeros((3, 5), np.uint8)),
                                     libvae.InvalidArgumentError, ["data", "(3, 5)"]),
    "an unknown transform": (lambda m: m.dataset(np.zeros((3, 784), np.uint8), "invert"),
                             libvae.InvalidArgumentError, ["transform"]),
    "a transform of float data": (lambda m: m.dataset(x, "binarize"), libvae.InvalidArgumentError,
                                  ["transform", "uint8"]),
    "a batch beyond max_batch": (lambda m: m.train_epoch(m.dataset(x), 65),
                                 libvae.InvalidArgumentError, ["batch"]),
    "a dataset of another model": (lambda m: m.train_epoch(small_model().dataset(x), 8),
                                   libvae.InvalidArgumentError, ["ds"]),
    "a negative learning rate": (lambda m: setattr(m, "learning_rate", -1.0),
                                 libvae.InvalidArgumentError, ["LEARNING_RATE"]),
    "an unknown objective": (lambda m: setattr(m, "objective", "mse"), libvae.InvalidArgumentError,
                             ["objective", "'mse'"]),
    "threads beyond 256": (lambda m: setattr(m, "threads", 257), libvae.InvalidArgumentError,
                           ["THREADS"]),
    "a beta2 of 1": (lambda m: setattr(m, "betas", (0.5, 1.0)), libvae.InvalidArgumentError,
                     ["BETA2"]),
    "a CUDA stream on the CPU": (lambda m: m.set_cuda_stream(1), libvae.UnsupportedError, []),
    "a directory that is not there": (lambda m: m.save("/nonexistent/dir/model.safetensors"),
                                      libvae.InputOutputError, ["/nonexistent/dir"]),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_a_bad_call_raises_its_class_and_changes_nothing(trained, name):
    call, cls, words = BAD_CALLS[name]
    snapshot = Snapshot(trained)
    settings = (trained.learning_rate, trained.objective, trained.threads, trained.betas)
    with pytest.raises(cls) as raised:
        call(trained)
    message = str(raised.value)
    for word in words:
        assert word in message, message
    assert snapshot.unchanged()
    assert (trained.learning_rate, trained.objective, trained.threads, trained.betas) == settings
    trained.train_step(x)  # and it still trains


def test_a_step_whose_loss_is_not_finite_is_skipped_and_counted(trained):
    trained.set_parameters(np.full(trained.parameter_count, 1e30, np.float32))
    snapshot = Snapshot(trained)
    with pytest.raises(libvae.NumericalError, match="not finite"):
        trained.train_step(x)
    assert np.array_equal(trained.parameters(), snapshot.parameters)
    assert (trained.steps, trained.skipped_steps) == (1, 1)


@pytest.mark.parametrize("value", [np.nan, np.inf, 1.5, -0.5])
def test_bad_values_in_the_data_are_refused_naming_row_and_column(trained, value):
    bad = x.copy()
    bad[3, 17] = value
    snapshot = Snapshot(trained)
    with pytest.raises(libvae.InvalidArgumentError) as raised:
        trained.train_step(bad)
    assert "row 3, column 17" in str(raised.value)
    assert snapshot.unchanged()


@pytest.mark.parametrize("options, cls, words", [
    ({"likelihood": "poisson"}, libvae.InvalidArgumentError, ["likelihood", "'poisson'"]),
    ({"latent_dim": 0}, libvae.InvalidArgumentError, ["LATENT_DIM"]),
    ({"hidden": (8,) * 9}, libvae.InvalidArgumentError, ["count"]),
    ({"hidden": (0,)}, libvae.InvalidArgumentError, ["widths[0]"]),
    ({"variance": "shared"}, libvae.InvalidArgumentError, ["VARIANCE"]),
    ({"samples": 5000}, libvae.InvalidArgumentError, ["SAMPLES"]),
    ({"backend": "tpu"}, libvae.InvalidArgumentError, ["backend"]),
])
def test_a_bad_option_refuses_the_model(options, cls, words):
    with pytest.raises(cls) as raised:
        small_model(**options)
    for word in words:
        assert word in str(raised.value)


def test_options_fixed_at_creation_are_read_only(trained):
    with pytest.raises(AttributeError, match="fixed"):
        trained.latent_dim = 8
    with pytest.raises(AttributeError):
        trained.steps = 0


def test_the_cuda_backend_without_a_gpu_is_refused():
    try:
        model = small_model(backend="cuda")
    except libvae.DeviceError as e:  # built without CUDA, or with it but no GPU or driver
        assert str(e).startswith("CUDA backend unavailable: ") and "insufficient" not in str(e)
        assert small_model(backend="auto").backend == "cpu"
        return
    pytest.skip(f"a GPU is present (the model runs on {model.backend})")


def test_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(libvae.InputOutputError):
        libvae.load(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(libvae.FormatError):
        libvae.load(garbage)
    with pytest.raises(libvae.InvalidArgumentError):
        libvae.load(garbage, backend="gpu")
