"""The CUDA backend from Python, where PyTorch and a GPU are present (skipped
otherwise): tensors on the GPU go in through DLPack and give the answers of
host arrays; the caller's stream; datasets of GPU bytes; the allreduce hook on the
GPU, by hand and over NCCL."""
import numpy as np
import pytest

import libvae
from support import assert_steps_as_without_hook, binary_rows, one_rank_process_group, small_model

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU", allow_module_level=True)


def cuda_model(**options):
    return small_model(backend="cuda", **options)


def on_gpu(x):
    return torch.from_numpy(np.ascontiguousarray(x)).cuda()


def test_gpu_tensors_give_the_results_of_host_arrays():
    host, device = cuda_model(), cuda_model()
    assert device.backend == "cuda"
    for i in range(10):
        x = binary_rows(64, seed=i)
        assert device.train_step(on_gpu(x)) == pytest.approx(host.train_step(x), rel=1e-5)
    np.testing.assert_allclose(device.parameters(), host.parameters(), rtol=1e-4, atol=1e-6)
    x = binary_rows(16, seed=99)
    for a, b in zip(device.encode(on_gpu(x)), host.encode(x)):
        assert isinstance(a, np.ndarray)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    z = on_gpu(host.encode(x)[0])
    np.testing.assert_allclose(device.decode(z), host.decode(z.cpu().numpy()), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["float64", "transposed", "sliced"])
def test_gpu_tensors_of_other_layouts_are_converted(layout):
    x = binary_rows(32)
    given = {
        "float64": on_gpu(x).double(),
        "transposed": on_gpu(x.T.copy()).t(),
        "sliced": on_gpu(np.concatenate([x, x], axis=1))[:, :784],
    }[layout]
    reference, model = cuda_model(), cuda_model()
    assert model.train_step(given) == pytest.approx(reference.train_step(on_gpu(x)), rel=1e-6)


def test_steps_on_the_callers_stream():
    model = cuda_model()
    x = on_gpu(binary_rows(64))
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        model.set_cuda_stream(stream)
        for _ in range(20):
            assert model.train_step(x, return_loss=False) is None
        model.set_cuda_stream(None)
    stream.synchronize()
    assert model.steps == 20 and model.skipped_steps == 0


def test_fit_on_gpu_bytes_lowers_the_loss():
    model = cuda_model()
    images = on_gpu((binary_rows(1024) * 255).astype(np.uint8))
    history = model.fit(images, epochs=3, batch_size=64, progress=False)
    losses = [m["loss"] for m in history]
    assert losses[-1] < losses[0] - 10, losses


def test_the_cpu_backend_refuses_gpu_memory():
    model = small_model()
    snapshot = model.parameters()
    with pytest.raises(libvae.InvalidArgumentError, match="x"):
        model.train_step(on_gpu(binary_rows(8)))
    assert np.array_equal(model.parameters(), snapshot)


def test_to_torch_on_the_gpu():
    model = cuda_model()
    model.train_step(on_gpu(binary_rows(64)))
    module = model.to_torch().cuda()
    x = binary_rows(8)
    with torch.no_grad():
        mu, _ = module.encode(on_gpu(x))
    np.testing.assert_allclose(mu.cpu().numpy(), model.encode(x)[0], rtol=1e-4, atol=1e-5)


def test_the_allreduce_hook_gets_the_gpu_buffer_and_the_models_stream():
    """One rank (world_size 1): the hook sees the buffer on the GPU (through
    DLPack, no copy) and the model's stream, and the steps it takes are those
    of a model without a hook (the same kernels, launched one by one instead
    of replayed from a graph)."""
    seen = []

    def record(buffer, stream):
        tensor = torch.from_dlpack(buffer)
        assert tensor.is_cuda and tensor.dtype == torch.float32 and isinstance(stream, int)
        with torch.cuda.stream(torch.cuda.ExternalStream(stream)):
            seen.append(tensor.clone())
            tensor.mul_(1.0)  # written in place, on the model's stream

    hooked, plain = cuda_model(), cuda_model()
    hooked.set_allreduce(record)
    assert_steps_as_without_hook(hooked, plain, on_gpu)
    torch.cuda.synchronize()
    assert len(seen) == 5 and seen[0].numel() == hooked.parameter_count + 128
    assert torch.isfinite(seen[0]).all() and seen[0][:hooked.parameter_count].abs().max() > 0


def test_torch_allreduce_over_nccl_on_one_rank(tmp_path):
    with one_rank_process_group("nccl", tmp_path):
        hooked, plain = cuda_model(), cuda_model()
        hooked.set_allreduce(libvae.torch_allreduce())
        assert_steps_as_without_hook(hooked, plain, on_gpu)
