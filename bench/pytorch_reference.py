#!/usr/bin/env python3
"""The VAEs of bench/RESULTS.md in PyTorch: the same architecture, parameter
names (a libvae checkpoint loads into it), initialization (nn.Linear's
default), loss and Adam as libvae, for the side-by-side races (compare_with_pytorch.py,
and race.py's PyTorch contenders)."""
import itertools
import math
import time

import torch
from torch import nn

from bench_data import INPUT_DIM


class VAE(nn.Module):
    """encoder.i / decoder.i are nn.Linear, named as libvae's checkpoint tensors."""

    def __init__(self, hidden, latent, input_dim=INPUT_DIM):
        super().__init__()
        widths = [input_dim] + list(hidden)
        self.latent = latent
        self.encoder = nn.ModuleList(
            [nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])] + [nn.Linear(widths[-1], 2 * latent)])
        back = [latent] + list(reversed(hidden))
        self.decoder = nn.ModuleList(
            [nn.Linear(a, b) for a, b in zip(back[:-1], back[1:])] + [nn.Linear(back[-1], input_dim)])

    def loss(self, x, eps):
        """Mean over rows of -log p(x|z) + KL(q(z|x) || N(0, I)), Bernoulli
        decoder, one sample z = mu + exp(logvar / 2) eps."""
        h = x
        for layer in self.encoder[:-1]:
            h = torch.relu(layer(h))
        mu, logvar = self.encoder[-1](h).split(self.latent, dim=1)
        h = mu + torch.exp(0.5 * logvar) * eps
        for layer in self.decoder[:-1]:
            h = torch.relu(layer(h))
        logits = self.decoder[-1](h)
        nll = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (mu * mu + logvar.exp() - logvar - 1).sum(1)
        return (nll + kl).mean()


def make_step(model, lr=1e-3, fused=False, compile_loss=False):
    """One Adam step on a batch, as torch.optim.Adam with PyTorch's defaults;
    fused: its fused kernel (CPU too from PyTorch 2.4); compile_loss: the
    loss (forward and, through AOTAutograd, backward) by torch.compile, the
    optimizer left eager, as the race of bench/race.py runs it."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, **({"fused": True} if fused else {}))
    loss_of = torch.compile(model.loss) if compile_loss else model.loss

    def step(x, eps):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_of(x, eps)
        loss.backward()
        optimizer.step()
        return loss

    return step


def load_libvae_state(model, state):
    """Loads a libvae model's parameters: libvae.VAE.state_dict(), whose names
    and shapes are this module's."""
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()}, strict=True)


def median_seconds(run, device, repetitions, warmup=10):
    """Median seconds of run() over `repetitions` calls after `warmup` calls.
    On a GPU, CUDA events recorded on the current stream bracket each call,
    so run() must queue its work on that stream (or finish it before it
    returns); on the CPU, perf_counter."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repetitions):
        if device.type == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            stop.record()
            stop.synchronize()
            times.append(start.elapsed_time(stop) / 1e3)
        else:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def time_steps(step, batches, eps, device, repetitions):
    """Median seconds per step (median_seconds), cycling through the batches."""
    calls = itertools.count()

    def run():
        i = next(calls)
        step(batches[i % len(batches)], eps[i % len(eps)])

    return median_seconds(run, device, repetitions)


def log_2_nats(dim=INPUT_DIM):
    """The loss of a decoder whose logits are all 0: dim log 2."""
    return dim * math.log(2.0)
