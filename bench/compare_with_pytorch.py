#!/usr/bin/env python3
"""libvae against PyTorch on the same device, in one run.

1. Same answers: both start from the same parameters (libvae's initial
   checkpoint loaded into PyTorch), take the same 200 batches with Adam 1e-3,
   and their loss curves must agree within the noise of their different
   reparameterization draws.
2. Speed: the training step at sizes S and M (L on request;
   bench_data.SIZES), libvae's vae_train_step (and for S a whole
   vae_train_epoch) against PyTorch eager and torch.compile's default mode
   (the other modes on request). Both sides are timed alike: on a GPU, CUDA
   events on one stream around each step, both reading their batch from
   device memory, the median of the repetitions after 10 warm-up steps.
   libvae (the Python package: pip install .) queues its work on PyTorch's
   stream through vae_set_cuda_stream and both leave the loss on the device.
   A ratio table last.

  python3 bench/compare_with_pytorch.py --device cuda          # S and M, eager and default
  python3 bench/compare_with_pytorch.py --device cuda --sizes S,M,L \
      --modes eager,default,reduce-overhead,max-autotune      # when time allows
  python3 bench/compare_with_pytorch.py --device cpu --sizes S --modes eager
"""
import argparse
import contextlib
import os
import sys

import numpy as np
import torch

import libvae

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pytorch_reference as ref  # noqa: E402
from bench_data import FASHION_DIR, SIZES, binarized_batches, describe, training_bytes  # noqa: E402

def threads():
    """The CPU threads both sides use: PyTorch's intra-op thread count."""
    return torch.get_num_threads()


def same_answers(device, backend, steps, data_dir):
    hidden, latent, batch = SIZES["S"]
    ours = libvae.VAE(hidden=hidden, latent_dim=latent, max_batch=batch, backend=backend, seed=1,
                      threads=threads())
    model = ref.VAE(hidden, latent).to(device)
    ref.load_libvae_state(model, ours.state_dict())
    model.to(device)
    step = ref.make_step(model)
    batches = binarized_batches(steps, batch, data_dir)
    ours_loss, theirs_loss = [], []
    torch.manual_seed(1)
    for x in batches:
        xt = torch.from_numpy(x).to(device)
        theirs_loss.append(float(step(xt, torch.randn(batch, latent, device=device))))
        ours_loss.append(ours.train_step(x))
    ours_loss, theirs_loss = np.array(ours_loss), np.array(theirs_loss)
    print("same answers: mean loss per 20 steps (nats), libvae vs PyTorch from the same parameters")
    print("%8s %10s %10s %8s" % ("steps", "libvae", "pytorch", "diff"))
    worst = 0.0
    for first in range(0, steps, 20):
        a, b = ours_loss[first:first + 20].mean(), theirs_loss[first:first + 20].mean()
        worst = max(worst, abs(a - b) / b)
        print("%4d-%-3d %10.2f %10.2f %+8.2f" % (first + 1, first + 20, a, b, a - b))
    # The two runs differ only in their noise draws: at step 1 the losses of
    # the same parameters on the same batch, later the curves, agree to within
    # a few per cent.
    first_step = abs(ours_loss[0] - theirs_loss[0]) / theirs_loss[0]
    ok = first_step < 0.01 and worst < 0.03
    print("step 1: libvae %.3f, PyTorch %.3f; worst window %.2f%%: %s"
          % (ours_loss[0], theirs_loss[0], 100 * worst, "AGREE" if ok else "DISAGREE"))
    return ok


def time_ours(device, backend, size, repetitions, data_dir, on_stream):
    """libvae's step on a batch in device memory (on a GPU); on_stream: its
    work is queued on PyTorch's current stream and the loss left unread."""
    hidden, latent, batch = SIZES[size]
    trainer = libvae.VAE(hidden=hidden, latent_dim=latent, max_batch=batch, backend=backend,
                         threads=threads())
    if on_stream:
        trainer.set_cuda_stream(torch.cuda.current_stream().cuda_stream)
    x = torch.from_numpy(binarized_batches(1, batch, data_dir)[0]).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    result = {"step": ref.median_seconds(
        lambda: trainer.train_step(x, return_loss=not on_stream), device, repetitions)}
    if size == "S":
        ds = trainer.dataset(training_bytes(60000, data_dir), "binarize")
        result["epoch"] = ref.median_seconds(lambda: trainer.train_epoch(ds, batch), device, 3, warmup=1)
    return result


def time_theirs(device, size, mode, repetitions, data_dir):
    hidden, latent, batch = SIZES[size]
    model = ref.VAE(hidden, latent).to(device)
    step = ref.make_step(model)
    if mode != "eager":
        step = torch.compile(step, mode=mode)
    batches = [torch.from_numpy(b).to(device) for b in binarized_batches(4, batch, data_dir)]
    eps = [torch.randn(batch, latent, device=device) for _ in range(4)]
    return ref.time_steps(step, batches, eps, device, repetitions)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--sizes", default="S,M", help="of S,M,L")
    parser.add_argument("--modes", default="eager,default",
                        help="of eager,default,reduce-overhead,max-autotune")
    parser.add_argument("--repetitions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200, help="steps of the same-answers check")
    parser.add_argument("--data-dir", default=FASHION_DIR,
                        help="Fashion-MNIST's IDX files (random images where absent)")
    args = parser.parse_args()
    device = torch.device(args.device)
    backend = "cuda" if args.device == "cuda" else "cpu"
    print("device: %s; torch %s; %d CPU threads each" % (
        torch.cuda.get_device_name() if args.device == "cuda" else "cpu", torch.__version__, threads()))
    print("data: %s" % describe(args.data_dir))
    agree = same_answers(device, backend, args.steps, args.data_dir)

    on_stream = device.type == "cuda"
    print("timing: median of %d steps after 10 warm-up, %s; %s" % (
        args.repetitions, "CUDA events on one stream" if on_stream else "perf_counter",
        "libvae on PyTorch's stream, losses left on the device" if on_stream else
        "synchronous steps"))
    race_stream = torch.cuda.Stream() if device.type == "cuda" else None
    modes = args.modes.split(",")
    rows = []
    for size in args.sizes.split(","):
        with torch.cuda.stream(race_stream) if race_stream is not None else contextlib.nullcontext():
            ours = time_ours(device, backend, size, args.repetitions, args.data_dir, on_stream)
            theirs = {m: time_theirs(device, size, m, args.repetitions, args.data_dir)
                      for m in modes}
        rows.append((size, ours, theirs))
        print("size %s: libvae step %.1f us%s; %s" % (
            size, 1e6 * ours["step"],
            (", epoch %.2f ms" % (1e3 * ours["epoch"])) if "epoch" in ours else "",
            ", ".join("%s %.1f us" % (m, 1e6 * t) for m, t in theirs.items())))

    print()
    print("| size | libvae step (us) | " + " | ".join("%s (us)" % m for m in modes)
          + " | eager / libvae | best compiled / libvae |")
    print("| --- " * (4 + len(modes)) + "|")
    for size, ours, theirs in rows:
        compiled = [t for m, t in theirs.items() if m != "eager"]
        print("| %s | %.1f | %s | %.2f | %s |" % (
            size, 1e6 * ours["step"], " | ".join("%.1f" % (1e6 * t) for t in theirs.values()),
            theirs.get("eager", float("nan")) / ours["step"],
            "%.2f" % (min(compiled) / ours["step"]) if compiled else "n/a"))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
