"""Two models train at once on two threads, with the results of one after the
other; the GIL is released during library calls; one model shared by threads
is used by one at a time."""
import threading
import time

import numpy as np

from support import binary_rows, small_model

STEPS = 30


def train(model, seed):
    for i in range(STEPS):
        model.train_step(binary_rows(64, seed=seed * 1000 + i))
    model.fit(binary_rows(256, seed=seed), epochs=2, batch_size=64, progress=False)


def test_two_threads_give_the_results_of_one_after_the_other():
    alone = [small_model(seed=1), small_model(seed=2)]
    for seed, model in enumerate(alone, 1):
        train(model, seed)
    together = [small_model(seed=1), small_model(seed=2)]
    threads = [threading.Thread(target=train, args=(model, seed))
               for seed, model in enumerate(together, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        assert np.array_equal(a.parameters(), b.parameters())
        assert (b.steps, b.epochs) == (STEPS + 8, 2)


def test_python_runs_while_the_library_works():
    """The main thread runs in the middle of another thread's long library
    call (one that calls back no Python): only because the call released the
    GIL."""
    model = small_model(hidden=(256,))
    span = []

    def work():
        span.append(time.perf_counter())
        model.log_likelihood(binary_rows(64), k=500)
        span.append(time.perf_counter())

    worker = threading.Thread(target=work)
    ticks = []
    worker.start()
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = span
    middle = [t for t in ticks if start + 0.25 * (end - start) < t < start + 0.75 * (end - start)]
    assert end - start > 0.1 and len(middle) > 100, (end - start, len(middle))


def test_one_model_shared_by_threads_takes_every_step():
    model = small_model()
    x = binary_rows(64)
    threads = [threading.Thread(target=lambda: [model.train_step(x) for _ in range(25)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert model.steps == 100 and np.isfinite(model.parameters()).all()
