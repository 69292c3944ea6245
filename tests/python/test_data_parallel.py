"""Data parallelism from Python (VAE.set_allreduce): ranks as threads of one
process, summing through a Python hook, compute what one model computes on
the whole batch, step by step and epoch by epoch, and stay bit-identical to
each other (so fit(patience=) stops them after the same epoch); a hook's exception fails the step, changes nothing and is raised;
a hook that does not sum is caught; a model whose hook refers to it is
still freed, and a buffer kept past its call stays readable;
torch.distributed's hook (gloo, one rank) where PyTorch is present."""
import functools
import gc
import multiprocessing
import threading
import weakref

import numpy as np
import pytest

import libvae
from support import (Snapshot, assert_steps_as_without_hook, binary_rows, one_rank_process_group,
                     small_model, torch_distributed)


class ThreadSum:
    """An allreduce among threads: rank 0 sums the ranks' copies in rank
    order and every rank copies that one sum back, so all get the same bits."""

    def __init__(self, ranks):
        self.barrier = threading.Barrier(ranks, timeout=60)
        self.parts = [None] * ranks
        self.total = None
        self.calls = 0

    def hook(self, rank):
        def allreduce(buffer, stream):
            assert stream is None and buffer.dtype == np.float32 and buffer.ndim == 1
            self.parts[rank] = np.array(buffer)
            if self.barrier.wait() == 0:
                self.total = functools.reduce(np.add, self.parts)
                self.calls += 1
            self.barrier.wait()
            buffer[:] = self.total
            self.barrier.wait()  # nobody's next step replaces total before all have read it

        return allreduce


def on_threads(group, work):
    """work(rank) on one thread per rank; the first exception is raised. A
    failing rank breaks the barrier, so the others fail instead of waiting."""
    errors = []

    def run(rank):
        try:
            work(rank)
        except BaseException as e:  # noqa: B902 - re-raised below, on the main thread
            errors.append(e)
            group.barrier.abort()

    threads = [threading.Thread(target=run, args=(r,)) for r in range(len(group.parts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def ranks(world_size, **options):
    group = ThreadSum(world_size)
    models = [small_model(rank=r, world_size=world_size, **options) for r in range(world_size)]
    for r, model in enumerate(models):
        model.set_allreduce(group.hook(r))
    return group, models


def assert_close_to(one, ranks, steps):
    """The ranks' parameters hold the same bits, and those of one process up
    to the order of the gradients' sums: float32 roundings, below 1e-6 of the
    weights' scale for all but a few weights. Those few are weights whose
    gradient is near Adam's epsilon (a unit that is almost never active),
    where Adam's step lr g / (|g| + eps) turns the last bits of g into a
    share of lr; no weight can differ by more than 2 lr a step."""
    for parameters in ranks[1:]:
        assert np.array_equal(parameters, ranks[0])
    expected = one.parameters()
    difference = np.abs(ranks[0] - expected)
    assert np.quantile(difference, 0.999) <= 1e-6 * np.abs(expected).max()
    assert difference.max() <= 2 * one.learning_rate * steps
    assert not np.array_equal(expected, small_model().parameters())  # they trained


def recorder(buffers):
    """A hook for one rank alone (world_size 1): keeps a copy of each buffer."""
    return lambda buffer, stream: buffers.append(np.array(buffer))


def test_two_ranks_of_32_rows_step_as_one_model_of_64():
    group, models = ranks(2)
    sums = []
    group_hook = group.hook(0)
    models[0].set_allreduce(lambda buffer, stream: (group_hook(buffer, stream), sums.append(np.array(buffer))))
    one, alone_buffers = small_model(), []
    one.set_allreduce(recorder(alone_buffers))
    batches = [binary_rows(64, seed=s) for s in range(20)]
    losses = [[], []]

    def train(rank):
        for x in batches:
            losses[rank].append(models[rank].train_step(x[32 * rank:32 * (rank + 1)]))

    on_threads(group, train)
    alone = [one.train_step(x) for x in batches]
    assert group.calls == 20
    assert losses[0] == losses[1]  # the whole batch's mean, on every rank
    np.testing.assert_allclose(losses[0], alone, rtol=1e-5)
    # The summed gradient is the one process's gradient of the whole batch
    # (already divided by its 64 rows), up to the order of float32 sums.
    count = one.parameter_count
    for summed, whole in zip(sums, alone_buffers):
        gradient = whole[:count]
        assert np.abs(summed[:count] - gradient).max() <= 1e-5 * np.abs(gradient).max()
    assert_close_to(one, [m.parameters() for m in models], steps=20)
    assert [m.steps for m in models] == [20, 20]


def test_three_ranks_fit_epochs_as_one_model_uneven_last_batch_included():
    group, models = ranks(3)
    one = small_model()
    data = binary_rows(250, seed=7)  # batches of 64: 3 ranks take 21/21/22 rows, the last 58 rows 19/19/20
    histories = [None] * 3

    def fit(rank):
        histories[rank] = models[rank].fit(data, epochs=2, batch_size=64, progress=False)

    on_threads(group, fit)
    alone = one.fit(data, epochs=2, batch_size=64, progress=False)
    assert group.calls == 2 * 4
    for history in histories:
        assert [h["loss"] for h in history] == [h["loss"] for h in histories[0]]
        np.testing.assert_allclose([h["loss"] for h in history], [h["loss"] for h in alone], rtol=1e-5)
    assert_close_to(one, [m.parameters() for m in models], steps=8)
    assert [(m.steps, m.epochs) for m in models] == [(8, 2)] * 3


def test_ranks_stop_early_together(tmp_path):
    """fit(patience=) on two ranks: each decides from its own validation
    ELBO, and those agree to the bit, so the ranks stop after the same epoch
    (a rank that went on alone would wait at the barrier and fail)."""
    group, models = ranks(2, learning_rate=0.01)  # the ELBO stops rising after 6 epochs
    data, validation = binary_rows(128, seed=7), binary_rows(64, seed=8)
    histories = [None] * 2

    def fit(rank):
        best_path = tmp_path / "best.safetensors" if rank == 0 else None
        histories[rank] = models[rank].fit(data, epochs=30, batch_size=64, validation=validation,
                                           patience=1, best_path=best_path, progress=False)

    on_threads(group, fit)
    assert len(histories[0]) < 30 and histories[0][-1]["epochs_without_improvement"] == 1
    for history in histories:
        assert [(h["validation_elbo"], h["best_epoch"]) for h in history] == \
            [(h["validation_elbo"], h["best_epoch"]) for h in histories[0]]
    assert models[0].epochs == models[1].epochs == len(histories[0])
    assert libvae.load(tmp_path / "best.safetensors").epochs == histories[0][-1]["best_epoch"]


def test_an_exception_of_one_ranks_progress_callback_stops_every_rank_at_the_same_step():
    """A shared epoch cannot stop on one rank alone: the rank whose callback
    raised asks in its next step, and every rank stops after it (that rank
    raising its exception, the other libvae.Interrupted); the ranks stay
    alike, and the next epoch runs whole on both."""
    group, models = ranks(2)
    data = binary_rows(128, seed=3)
    raised = [None, None]

    def stop(rows_done, rows_total, mean_loss):
        raise RuntimeError("stop here")

    def epoch(rank):
        try:
            models[rank].train_epoch(models[rank].dataset(data), 32, stop if rank == 0 else None)
        except (RuntimeError, libvae.Interrupted) as e:
            raised[rank] = e

    on_threads(group, epoch)
    assert str(raised[0]) == "stop here"
    assert isinstance(raised[1], libvae.Interrupted) and "on 1 of the 2 ranks" in str(raised[1])
    assert [(m.steps, m.epochs) for m in models] == [(2, 0), (2, 0)]  # asked in step 2, read after it
    assert np.array_equal(models[0].parameters(), models[1].parameters())
    on_threads(group, lambda rank: models[rank].train_epoch(models[rank].dataset(data), 32))
    assert [(m.steps, m.epochs) for m in models] == [(6, 1), (6, 1)]


def test_an_exception_of_the_hook_fails_the_step_changes_nothing_and_is_raised():
    model = small_model()
    model.train_step(binary_rows(16, seed=1))
    before = Snapshot(model)

    def cut(buffer, stream):
        raise ConnectionError("the wire is cut")

    model.set_allreduce(cut)
    with pytest.raises(ConnectionError, match="the wire is cut"):
        model.train_step(binary_rows(16, seed=2))
    with pytest.raises(ConnectionError, match="the wire is cut"):
        model.fit(binary_rows(64, seed=3), epochs=1, batch_size=16, progress=False)
    assert before.unchanged()
    model.set_allreduce(None)  # removed: steps no longer call it
    model.train_step(binary_rows(16, seed=2))
    assert model.steps == before.counters[0] + 1


def test_a_hook_on_one_rank_alone_computes_what_no_hook_does():
    """world_size 1: the sum of one buffer is the buffer; the step's bits do
    not depend on the hook being there."""
    calls = []
    hooked, plain = small_model(), small_model()
    hooked.set_allreduce(lambda buffer, stream: calls.append(buffer.size))
    assert_steps_as_without_hook(hooked, plain)
    assert calls == [hooked.parameter_count + 128] * 5  # the gradient and its tail


def test_a_hook_that_does_not_sum_is_caught_by_every_rank():
    """Two ranks whose hook leaves each buffer as it is: the tail's rank count
    says one rank where two were expected, so the step is refused and
    skipped, and no parameter moves."""
    models = [small_model(rank=r, world_size=2) for r in range(2)]
    for model in models:
        model.set_allreduce(lambda buffer, stream: None)
    parameters = models[0].parameters()
    for rank, model in enumerate(models):
        with pytest.raises(libvae.Error):
            model.train_step(binary_rows(16, seed=rank))
        assert np.array_equal(model.parameters(), parameters)
        assert (model.steps, model.skipped_steps) == (0, 1)


def test_the_hook_must_be_callable_and_rank_must_fit_the_world():
    model = small_model()
    with pytest.raises(libvae.InvalidArgumentError, match="callable"):
        model.set_allreduce(42)
    with pytest.raises(libvae.InvalidArgumentError):
        model.rank = 1  # world_size is 1
    model.world_size = 4
    model.rank = 3
    assert (model.rank, model.world_size) == (3, 4)


def test_a_model_whose_hook_refers_to_it_is_freed():
    """A closure over its own model: a cycle through the library's trainer,
    which the garbage collector sees and frees."""
    def referring_to(model):
        def allreduce(buffer, stream):
            assert model is not None

        return allreduce

    model = small_model()
    model.set_allreduce(referring_to(model))
    model.train_step(binary_rows(8, seed=1))
    gone = weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None


def test_a_buffer_kept_past_its_call_stays_readable():
    """The view holds the trainer's memory, so reading it after the model is
    gone reads the last step's values, not freed memory."""
    kept = []
    model = small_model()
    model.set_allreduce(lambda buffer, stream: kept.append(buffer))
    model.train_step(binary_rows(8, seed=1))
    count = model.parameter_count
    del model
    gc.collect()
    assert kept[0].shape == (count + 128,) and np.isfinite(kept[0]).all()
    assert np.abs(kept[0][:count]).max() > 0  # a gradient, not zeros
    kept.clear()  # the view held the trainer, which holds this list through its hook


def test_torch_distributed_gloo_hook_on_one_rank(tmp_path):
    with one_rank_process_group("gloo", tmp_path):
        hooked, plain = small_model(), small_model()
        hooked.set_allreduce(libvae.torch_allreduce())
        assert_steps_as_without_hook(hooked, plain)


def gloo_rank(rank, store, batches, out):
    """One of two processes training with torch_allreduce over gloo; its
    parameters go to out[rank]."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    try:
        model = small_model(world_size=2, rank=rank)
        model.set_allreduce(libvae.torch_allreduce())
        for x in batches:
            model.train_step(x[32 * rank:32 * (rank + 1)])
        np.save(out[rank], model.parameters())
    finally:
        dist.destroy_process_group()


def test_two_processes_over_gloo_train_as_one_model(tmp_path):
    torch_distributed("gloo")
    batches = [binary_rows(64, seed=s) for s in range(10)]
    out = [str(tmp_path / f"rank{r}.npy") for r in range(2)]
    context = multiprocessing.get_context("spawn")
    ranks = [context.Process(target=gloo_rank, args=(r, str(tmp_path / "store"), batches, out))
             for r in range(2)]
    for p in ranks:
        p.start()
    for p in ranks:
        p.join(timeout=120)
    for p in ranks:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in ranks] == [0, 0]
    one = small_model()
    for x in batches:
        one.train_step(x)
    assert_close_to(one, [np.load(o) for o in out], steps=10)
