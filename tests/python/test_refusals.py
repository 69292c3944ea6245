"""What the package refuses before the library reads it: arrays in memory the
model's backend cannot read (a DLPack producer declaring another device),
paths that hold a NUL byte. Each refusal is an InvalidArgumentError naming
the argument, and changes nothing."""
import ctypes
import os

import numpy as np
import pytest

import libvae
from support import Snapshot, binary_rows, small_model

# DLPack's DLDeviceType values (dlpack.h).
CUDA, ROCM = 2, 10

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


class ForeignArray:
    """A DLPack producer whose memory is host memory (a NumPy array's) but
    which declares another device, as a torch.cuda tensor declares CUDA: the
    extension must trust the declaration, never read such memory as host
    memory."""

    def __init__(self, array, device_type, device_id=0):
        self.array = np.ascontiguousarray(array, dtype=np.float32)
        self.device = (device_type, device_id)

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, *args, **kwargs):
        capsule = self.array.__dlpack__()  # an unversioned "dltensor" capsule
        tensor = _get_pointer(capsule, b"dltensor")
        # DLTensor: void* data, then DLDevice {int32 device_type, int32 device_id}.
        ctypes.c_int32.from_address(tensor + 8).value = self.device[0]
        ctypes.c_int32.from_address(tensor + 12).value = self.device[1]
        return capsule


def test_the_fake_producer_is_read_as_what_it_declares():
    # The test's premise: without the device's declaration it is a good array.
    model = small_model()
    assert np.isfinite(model.train_step(ForeignArray(binary_rows(8), 1)))


@pytest.mark.parametrize("device_type, words", [(CUDA, "CUDA device 0"), (ROCM, "ROCm")])
@pytest.mark.parametrize("call", ["train_step", "evaluate", "log_likelihood", "encode", "decode",
                                  "dataset", "set_parameters"])
def test_an_array_of_another_device_is_refused_by_a_cpu_model(call, device_type, words):
    model = small_model()
    before = Snapshot(model)
    x = binary_rows(8)
    argument = {"decode": lambda: ForeignArray(np.zeros((8, 4)), device_type),
                "set_parameters": lambda: ForeignArray(model.parameters(), device_type)}.get(
                    call, lambda: ForeignArray(x, device_type))()
    with pytest.raises(libvae.InvalidArgumentError) as refused:
        getattr(model, call)(argument)
    message = str(refused.value)
    assert words in message and "CPU backend" in message, message
    assert before.unchanged()


@pytest.mark.parametrize("name", ["victim\0.safetensors", "\0", "a\0b/c.safetensors"])
def test_a_path_with_a_nul_byte_is_refused_by_save_and_load(tmp_path, name):
    model = small_model()
    model.train_step(binary_rows(8))
    path = os.path.join(str(tmp_path), name)
    with pytest.raises(libvae.InvalidArgumentError, match="NUL byte"):
        model.save(path)
    assert os.listdir(tmp_path) == []  # nothing written, not even "victim"
    model.save(tmp_path / "victim")
    with pytest.raises(libvae.InvalidArgumentError, match="NUL byte"):
        libvae.load(os.path.join(str(tmp_path), "victim\0.anything"))


@pytest.mark.parametrize("call", [
    lambda: small_model(hidden=(2**31,)),
    lambda: small_model(hidden=(-2**31 - 1,)),
    lambda: small_model(seed=2**64),
    lambda: small_model(seed=-2**63 - 1),
    lambda: small_model(max_batch=2**70),
    lambda: small_model(learning_rate=10**400),
    lambda: small_model(learning_rate="fast"),
    lambda: small_model().log_likelihood(binary_rows(2), k=2**31),
    lambda: small_model().log_likelihood(binary_rows(2), k=-2**31 - 1),
    lambda: small_model().sample(2**63),
    lambda: small_model().sample(-2**63 - 1),
    lambda: small_model().set_cuda_stream(-1),
    lambda: small_model().set_cuda_stream(2**64),
    lambda: small_model().train_epoch(small_model().dataset(binary_rows(4)), 2**63),
], ids=["hidden 2^31", "hidden below int32", "seed 2^64", "seed below int64", "max_batch 2^70",
        "learning_rate 1e400", "learning_rate text", "k 2^31", "k below int32", "sample 2^63",
        "sample below int64", "stream -1", "stream 2^64", "batch 2^63"])
def test_integers_out_of_the_c_types_range_raise_the_documented_error(call):
    with pytest.raises(libvae.InvalidArgumentError):
        call()


def test_the_dataset_calls_refuse_k_out_of_range():
    model = small_model()
    dataset = model.dataset(binary_rows(4))
    with pytest.raises(libvae.InvalidArgumentError, match="k"):
        model.log_likelihood_dataset(dataset, k=2**31)


@pytest.mark.parametrize("call", ["train_epoch", "evaluate_dataset", "log_likelihood_dataset"])
def test_a_progress_that_is_not_callable_is_refused_before_any_step(call):
    model = small_model()
    dataset = model.dataset(binary_rows(16))
    before = Snapshot(model)
    arguments = {"train_epoch": (dataset, 2), "evaluate_dataset": (dataset,),
                 "log_likelihood_dataset": (dataset, 5)}[call]
    with pytest.raises(libvae.InvalidArgumentError, match="progress"):
        getattr(model, call)(*arguments, progress=42)
    assert before.unchanged()


def test_hidden_widths_from_a_generator_are_the_trainers():
    model = small_model(hidden=(w for w in (16, 8)))
    assert model.hidden == (16, 8)
    expected = small_model(hidden=(16, 8))
    assert model.parameter_count == expected.parameter_count
    assert np.array_equal(model.parameters(), expected.parameters())


@pytest.mark.parametrize("hidden", ["12", b"12", 12, None])
def test_hidden_widths_that_are_not_a_sequence_of_integers_are_refused(hidden):
    with pytest.raises(libvae.InvalidArgumentError, match="hidden"):
        small_model(hidden=hidden)


def test_load_reads_the_file_once_through_the_library(tmp_path, monkeypatch):
    model = small_model(hidden=(16, 8))
    model.save(tmp_path / "model.safetensors")
    from libvae import _safetensors

    def read_again(*args, **kwargs):
        raise AssertionError("libvae.load read the file a second time, in Python")

    monkeypatch.setattr(_safetensors, "read_metadata", read_again)
    monkeypatch.setattr(_safetensors, "read", read_again)
    loaded = libvae.load(tmp_path / "model.safetensors")
    assert loaded.hidden == (16, 8)
    assert np.array_equal(loaded.parameters(), model.parameters())


def test_load_takes_the_callers_limits_instead_of_the_files(tmp_path):
    """What sizes memory and threads is the caller's to choose; the rest is
    the file's (vae_load_config)."""
    model = small_model(hidden=(16, 8), max_batch=64, eval_rows=1024, tf32=True)
    model.save(tmp_path / "model.safetensors")
    loaded = libvae.load(tmp_path / "model.safetensors", backend="cpu", max_batch=8, threads=1)
    assert (loaded.max_batch, loaded.threads) == (8, 1)
    assert (loaded.eval_rows, loaded.tf32) == (model.eval_rows, True)
    assert np.array_equal(loaded.parameters(), model.parameters())
    kept = libvae.load(tmp_path / "model.safetensors", backend="cpu")
    assert kept.max_batch == 64
    with pytest.raises(libvae.InvalidArgumentError, match="max_batch"):
        libvae.load(tmp_path / "model.safetensors", max_batch="8")
    with pytest.raises(libvae.InvalidArgumentError, match="VAE_OPT_THREADS"):
        libvae.load(tmp_path / "model.safetensors", threads=0)
