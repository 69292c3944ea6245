#!/usr/bin/env python3
"""The race of issue 22: libvae's training step against JAX jit (+ optax),
torch.compile of the loss (+ fused Adam) and PyTorch eager (+ fused Adam),
on the CPU, each contender a worker process of its own (race_worker.py).

For each size and thread count:
1. Same start: the parent creates libvae's model (seed 1) and hands its
   initial parameters, CHECK_STEPS batches of binarized images and libvae's
   own epsilon of those steps (libvae_noise.py) to every worker; JAX and
   PyTorch load the parameters into their layouts.
2. Same answers: each contender takes those steps; every loss must equal
   libvae's within CHECK_RTOL (see there).
3. Speed: after warm-up steps, rounds in turn: each round every contender
   takes STEPS_PER_ROUND[size] steps (the order rotating), each step
   timed alone to the loss on the host. Per contender the median step and
   its 10th and 90th percentiles over all rounds; per round the CPU that
   other processes used meanwhile (/proc/stat less the race's own
   processes) and the hypervisor's steal.
4. For S, whole epochs (468 batches of 128, the first 59,904 images,
   shuffled and binarized anew each epoch): libvae's train_epoch against
   one JAX jit of a lax.scan over the epoch, also in rounds.

  bash bench/race.sh --quick           # a smoke run: S, 1 thread, few rounds
  bash bench/race.sh                   # S and M, 1 and 2 threads, epochs of S
  python3 bench/race.py --dry-run      # where libvae is installed: the mapping and the noise
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import bench_data
import libvae_noise
import race_worker
import vae_arrays

HERE = os.path.dirname(os.path.abspath(__file__))
CHECK_STEPS = 3
# The contenders compute the same float32 function of the same inputs in
# different orders (GEMM blocking, libvae's polynomial log1p and exp, the
# sums over 784 pixels and the batch): their first losses of about 550
# nats differ by under 1e-6 of themselves, and as Adam's early updates
# (about lr * sign(gradient)) turn rounding into parameter moves, up to
# 3.1e-6 by step 3 (M). Another epsilon moves the first loss by 1.7e-4 (S)
# and 2.4e-5 (M): the tolerance tells the two apart.
CHECK_RTOL = 1e-5
STEPS_PER_ROUND = {"S": 20, "M": 2, "L": 1}
CONTENDERS = ("libvae", "jax", "torch-compile", "torch-eager")
EPOCH_CONTENDERS = ("libvae", "jax")


def make_setup(size, data_dir, seed, epochs):
    """What every worker starts from (race_worker.save_setup's dict)."""
    import libvae

    hidden, latent, batch = bench_data.SIZES[size]
    model = libvae.VAE(hidden=hidden, latent_dim=latent, max_batch=batch, backend="cpu", seed=seed)
    setup = {
        "hidden": np.array(hidden), "latent": np.array(latent), "batch": np.array(batch),
        "seed": np.array(seed), "parameters": model.parameters(), "state": model.state_dict(),
        "batches": bench_data.binarized_batches(CHECK_STEPS, batch, data_dir),
        "eps": np.stack([libvae_noise.training_eps(seed, s, batch, latent) for s in range(CHECK_STEPS)]),
    }
    if epochs:
        setup["epoch_bytes"] = bench_data.training_bytes(60000 // batch * batch, data_dir)
    return setup


def relative(a, b):
    return abs(a - b) / abs(b)


class Worker:
    """A race_worker.py process and its request-reply pipe."""

    def __init__(self, name, threads, setup_path):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "race_worker.py"), name, str(threads), setup_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the %s worker exited (%s); its stderr says why"
                               % (self.name, self.proc.wait()))
        return json.loads(line)

    def ask(self, **request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class CpuMeter:
    """The machine's busy CPU time against the race's own processes', so
    that a round can say how much of the CPU others took meanwhile."""

    def __init__(self, pids):
        self.pids = pids
        self.hz = os.sysconf("SC_CLK_TCK")

    def read(self):
        with open("/proc/stat") as f:
            user, nice, system, _, _, irq, softirq, steal = map(int, f.readline().split()[1:9])
        ours = 0
        for pid in self.pids:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ours += int(fields[11]) + int(fields[12])  # utime, stime
        return time.monotonic(), user + nice + system + irq + softirq, ours, steal

    def since(self, start):
        """Cores that others kept busy, and steal, since read() gave `start`."""
        now = self.read()
        ticks = (now[0] - start[0]) * self.hz
        return {"others": (now[1] - start[1] - (now[2] - start[2])) / ticks,
                "steal": (now[3] - start[3]) / ticks}


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def summary(seconds):
    p10, p50, p90 = np.percentile(seconds, [10, 50, 90])
    return {"median": p50, "p10": p10, "p90": p90, "n": len(seconds)}


def load_summary(loads):
    others = [r["others"] for r in loads]
    return {"others_median": float(np.median(others)), "others_max": max(others),
            "steal_median": float(np.median([r["steal"] for r in loads]))}


def rounds(workers, meter, count, ask):
    """`count` rounds of ask(worker, round) over the workers, the order
    rotating; the replies per worker, and the load of each round."""
    replies = {w.name: [] for w in workers}
    loads = []
    for r in range(count):
        start = meter.read()
        for w in workers[r % len(workers):] + workers[:r % len(workers)]:
            replies[w.name].append(ask(w, r))
        loads.append(meter.since(start))
    return replies, loads


def check_answers(workers):
    """The CHECK_STEPS losses of every contender against libvae's."""
    losses = {w.name: w.ask(op="losses", count=CHECK_STEPS)["losses"] for w in workers}
    ours = losses["libvae"]
    agree = all(relative(l, o) <= CHECK_RTOL for ls in losses.values() for l, o in zip(ls, ours))
    for name, ls in losses.items():
        print("  %-14s %s  (largest difference from libvae %.1e)"
              % (name, " ".join("%.4f" % l for l in ls), max(relative(l, o) for l, o in zip(ls, ours))))
    print("  same answers within %g: %s" % (CHECK_RTOL, "AGREE" if agree else "DISAGREE"))
    return losses, agree


def race(size, threads, names, args, setup_path, epochs):
    print("\n## %s, %d thread%s" % (size, threads, "" if threads == 1 else "s"))
    before = loadavg()
    workers = [Worker(name, threads, setup_path) for name in names]
    try:
        hello = {w.name: w.read() for w in workers}
        for name, h in hello.items():
            print("  %-14s %s, ready in %.1f s" % (name, h["version"], h["setup_seconds"]))
        losses, agree = check_answers(workers)
        meter = CpuMeter([os.getpid()] + [h["pid"] for h in hello.values()])
        for w in workers:
            w.ask(op="steps", first=0, count=args.warmup)
        steps = STEPS_PER_ROUND[size]
        times, loads = rounds(workers, meter, args.rounds,
                              lambda w, r: w.ask(op="steps", first=r * steps, count=steps)["seconds"])
        result = {"size": size, "threads": threads, "agree": agree, "losses": losses,
                  "versions": {n: h["version"] for n, h in hello.items()},
                  "steps": {n: summary(sum(t, [])) for n, t in times.items()},
                  "load": load_summary(loads), "loads": loads,
                  "seconds": {n: sum(t, []) for n, t in times.items()}}
        runners = [w for w in workers if w.name in EPOCH_CONTENDERS and hello[w.name]["epoch"]]
        if epochs and runners:
            for w in runners:
                w.ask(op="epoch")  # warm-up: JAX compiles the scan here
            replies, eloads = rounds(runners, meter, args.epoch_rounds, lambda w, r: w.ask(op="epoch"))
            result["epochs"] = {n: dict(summary([e["seconds"] for e in es]), loss=es[-1]["loss"])
                                for n, es in replies.items()}
            result["epoch_load"] = load_summary(eloads)
    finally:
        for w in workers:
            w.close()
    result["loadavg"] = [before, loadavg()]
    print_result(result)
    return result


def print_result(r):
    base = r["steps"]["libvae"]["median"]
    print("\n| contender | median step | p10 - p90 | median / libvae's |")
    print("| --- | --- | --- | --- |")
    for name, s in r["steps"].items():
        print("| %s | %.2f ms | %.2f - %.2f ms | %.2f |"
              % (name, 1e3 * s["median"], 1e3 * s["p10"], 1e3 * s["p90"], s["median"] / base))
    print("\n%d steps each; other processes used %.2f cores in the median round (%.2f at most), "
          "steal %.2f; load average %s before, %s after"
          % (r["steps"]["libvae"]["n"], r["load"]["others_median"], r["load"]["others_max"],
             r["load"]["steal_median"], r["loadavg"][0], r["loadavg"][1]))
    if "epochs" in r:
        print("\n| epoch (468 batches) | median | p10 - p90 | mean loss of the last |")
        print("| --- | --- | --- | --- |")
        for name, e in r["epochs"].items():
            print("| %s | %.2f s | %.2f - %.2f s | %.2f |"
                  % (name, e["median"], e["p10"], e["p90"], e["loss"]))
        print("\n%d epoch(s) each; other processes used %.2f cores in the median round (%.2f at most)"
              % (e["n"], r["epoch_load"]["others_median"], r["epoch_load"]["others_max"]))


def dry_run(args):
    """libvae's first step against the NumPy loss of vae_arrays (JAX's
    layout) under libvae_noise's epsilon: the mapping and the noise twin,
    with no framework but NumPy. A wrong epsilon (the next step's) must
    miss, or the check would prove nothing."""
    from race_contenders import make_libvae

    ok = True
    for size in args.sizes:
        setup = make_setup(size, args.data_dir, args.seed, epochs=False)
        ours = make_libvae(setup, 1).step(0)
        params = vae_arrays.from_libvae(setup["state"])
        same = float(vae_arrays.loss(params, setup["batches"][0], setup["eps"][0], np))
        other = float(vae_arrays.loss(params, setup["batches"][0], setup["eps"][1], np))
        good = relative(same, ours) <= CHECK_RTOL < relative(other, ours)
        ok &= good
        print("%s: libvae's first step %.4f; NumPy, same epsilon %.4f (%.1e), next step's %.4f (%.1e): %s"
              % (size, ours, same, relative(same, ours), other, relative(other, ours),
                 "AGREE" if good else "DISAGREE"))
    return ok


def header(args):
    def run(*command):
        return subprocess.run(command, cwd=HERE, capture_output=True, text=True).stdout.strip()

    model = next((line.split(":", 1)[1].strip() for line in run("lscpu").splitlines()
                  if line.startswith("Model name")), "unknown CPU")
    dirty = " (with uncommitted changes)" if run("git", "status", "--porcelain", "--untracked-files=no") else ""
    return {"machine": "%s, %d CPUs" % (model, os.cpu_count()),
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "commit": run("git", "rev-parse", "--short", "HEAD") + dirty,
            "command": " ".join(sys.argv), "data": bench_data.describe(args.data_dir)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: S on 1 thread, --rounds 5 --epoch-rounds 1 --warmup 3")
    parser.add_argument("--dry-run", action="store_true", help="check the mapping and noise, race nothing")
    parser.add_argument("--sizes", default="S,M", help="of %s" % ",".join(bench_data.SIZES))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--epoch-rounds", type=int, default=5, help="0: no epochs")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps per contender")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data-dir", default=bench_data.FASHION_DIR)
    parser.add_argument("--json", help="write every figure and step time here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.threads, args.rounds, args.epoch_rounds, args.warmup = "S", "1", 5, 1, 3
    args.sizes = args.sizes.split(",")
    if args.dry_run:
        return 0 if dry_run(args) else 1

    info = header(args)
    for key, value in info.items():
        print("%s: %s" % (key, value))
    print("A shared machine shows the other processes' share of the CPU beside each figure.")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            setup_path = os.path.join(tmp, "setup-%s.npz" % size)
            epochs = size == "S" and args.epoch_rounds > 0
            race_worker.save_setup(setup_path, make_setup(size, args.data_dir, args.seed, epochs))
            for threads in map(int, args.threads.split(",")):
                results.append(race(size, threads, args.contenders.split(","), args, setup_path, epochs))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "results": results}, f, indent=1)
    return 0 if all(r["agree"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
