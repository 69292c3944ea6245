"""The Python allreduce hook and what it owns: a hook that keeps a view of
its buffer does not keep its trainer alive once the model is gone, and an
exception a hook raises reaches the call, on the thread, that raised it."""
import gc
import threading
import weakref

import numpy as np

import libvae
from support import binary_rows, small_model


class KeepingHook:
    """A hook of one rank (the sum of one buffer is itself) that keeps a
    view of every buffer it is given, as a careless hook might."""

    def __init__(self):
        self.kept = []

    def __call__(self, buffer, stream):
        self.kept.append(buffer)


def test_a_hook_that_keeps_its_buffer_is_freed_with_its_model():
    model = small_model()
    hook = KeepingHook()
    model.set_allreduce(hook)
    for seed in range(3):
        model.train_step(binary_rows(8, seed=seed))
    assert len(hook.kept) == 3 and all(isinstance(v, np.ndarray) for v in hook.kept)
    gone = weakref.ref(hook)
    del model, hook
    gc.collect()
    assert gone() is None, "the hook, its views and the trainer they hold were never freed"


def test_a_kept_view_stays_readable_after_the_model_is_gone():
    model = small_model()
    views = []
    model.set_allreduce(lambda buffer, stream: views.append(buffer))
    model.train_step(binary_rows(8))
    del model
    gc.collect()
    assert np.all(np.isfinite(views[0]))  # the view holds the trainer's memory


class RaisingHook:
    """Raises an exception that names the thread calling it."""

    def __call__(self, buffer, stream):
        raise ValueError(f"from thread {threading.get_ident()}")


def test_each_thread_gets_the_exception_its_own_step_raised():
    model = small_model(max_batch=2, hidden=(4,), latent_dim=2)
    model.set_allreduce(RaisingHook())
    x = binary_rows(2)
    wrong = []

    def steps():
        me = f"from thread {threading.get_ident()}"
        for _ in range(150):
            try:
                model.train_step(x)
                wrong.append("no exception")
            except ValueError as e:
                if str(e) != me:
                    wrong.append(f"{type(e).__name__}: {e} (expected {me})")
            except libvae.Error as e:
                wrong.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=steps) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == [], f"{len(wrong)} of 1200 calls: {wrong[:3]}"
    assert model.steps == 0
