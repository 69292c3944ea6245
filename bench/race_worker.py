"""One contender of bench/race.py in a process of its own.

  python3 race_worker.py CONTENDER THREADS SETUP.npz

pins itself to THREADS CPUs before any framework loads, builds the
contender (race_contenders.py) from the setup the parent wrote
(save_setup), says hello, then answers one JSON line per request line on
stdin until stdin closes:

  {"op": "losses", "count": n}           the losses of steps 0 .. n-1 (the agreement check)
  {"op": "steps", "first": i, "count": n} n steps from batch i on (cycling), each timed alone
  {"op": "epoch"}                        one epoch, timed, and its mean loss
"""
import json
import os
import sys
import time

import numpy as np


def save_setup(path, setup):
    """The setup dict as one .npz: its state_dict under "state/<name>"."""
    arrays = {k: v for k, v in setup.items() if k != "state"}
    arrays.update({"state/" + name: value for name, value in setup["state"].items()})
    np.savez(path, **arrays)


def load_setup(path):
    with np.load(path) as f:
        setup = {k: f[k] for k in f.files if not k.startswith("state/")}
        setup["state"] = {k[len("state/"):]: f[k] for k in f.files if k.startswith("state/")}
    return setup


def pin_threads(threads):
    """Every framework sizes its pools from the CPUs it may run on (XLA's
    Eigen pool, PyTorch's default) or from these variables (OpenMP, MKL,
    OpenBLAS), read once at load: so both are set before any import."""
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    # Inductor would otherwise compile in a pool of subprocesses, whose CPU
    # time the parent would count as other processes' load.
    os.environ["TORCHINDUCTOR_COMPILE_THREADS"] = "1"


def serve(contender, batches, requests, reply):
    for line in requests:
        request = json.loads(line)
        if request["op"] == "losses":
            reply({"losses": [contender.step(i) for i in range(request["count"])]})
        elif request["op"] == "steps":
            seconds = []
            for k in range(request["count"]):
                start = time.perf_counter()
                contender.step((request["first"] + k) % batches)
                seconds.append(time.perf_counter() - start)
            reply({"seconds": seconds})
        elif request["op"] == "epoch":
            start = time.perf_counter()
            loss = contender.epoch()
            reply({"seconds": time.perf_counter() - start, "loss": loss})
        else:
            raise ValueError("unknown request %r" % request)


def main():
    name, threads, setup_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pin_threads(threads)
    # The frameworks may print to stdout; the replies keep a descriptor of
    # their own and everything else written to stdout goes to stderr.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(message):
        replies.write(json.dumps(message) + "\n")

    from race_contenders import CONTENDERS

    start = time.perf_counter()
    setup = load_setup(setup_path)
    contender = CONTENDERS[name](setup, threads)
    reply({"version": contender.version, "setup_seconds": time.perf_counter() - start,
           "epoch": contender.epoch is not None, "pid": os.getpid()})
    serve(contender, len(setup["batches"]), sys.stdin, reply)


if __name__ == "__main__":
    main()
