"""Ctrl-C (SIGINT) stops a long call of a model while it runs in the library,
not after it: the array calls (log_likelihood with a huge k, sample of many
rows) and the dataset calls raise KeyboardInterrupt within moments, and the
model is usable afterwards."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import libvae

x = np.zeros((1, 4), np.float32)


def tiny_model():
    return libvae.VAE(input_dim=4, latent_dim=1, hidden=(2,), backend="cpu", eval_rows=512,
                      max_batch=64)


def interrupted_after(seconds, call):
    """Runs call() with a SIGINT to this process after `seconds`; the time
    call() took to raise KeyboardInterrupt."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    start = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
    return time.perf_counter() - start


@pytest.mark.parametrize("call", [
    lambda m: m.log_likelihood(x, k=200_000_000),  # about 20 s uninterrupted
    lambda m: m.log_likelihood_dataset(m.dataset(x), k=200_000_000, progress=None),
], ids=["log_likelihood", "log_likelihood_dataset"])
def test_ctrl_c_stops_a_long_call_at_once(call):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals reach the main thread only")
    model = tiny_model()
    assert interrupted_after(0.3, lambda: call(model)) < 5
    assert model.log_likelihood(x, k=10).shape == (1,)  # the model works on
