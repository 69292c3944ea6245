#!/usr/bin/env python3
"""Instructions per CPU training step, per thread and per function, from callgrind.

Runs bench/profile_cpu_step under callgrind twice, with A and B steps, and
prints (count(B) - count(A)) / (B - A): the exact cost of one step, without
the trainer's construction, however loaded the machine is. Threads are
counted separately (valgrind runs them one at a time, so a worker's spinning
while it waits shows as instructions of ThreadPool; they are not work).

  bench/callgrind_per_step.py BUILD_DIR S|M THREADS [A B] [--top N]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile


def run(profile, size, threads, steps, out_dir):
    out = os.path.join(out_dir, f"cg.{size}.{threads}.{steps}")
    subprocess.run(["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={out}", profile, size, str(threads), str(steps)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = sorted(f for f in os.listdir(out_dir) if f.startswith(os.path.basename(out) + "-"))
    return [load(os.path.join(out_dir, f)) for f in parts]


def load(path):
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                          check=True, capture_output=True, text=True).stdout
    counts = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)$", line)
        if not m:
            continue
        name = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2))
        name = "TOTAL" if "PROGRAM TOTALS" in name else name.split(":", 1)[-1]
        name = name.replace("(anonymous namespace)", "{anon}")
        name = re.sub(r"\(.*", "", name)
        counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("build")
    parser.add_argument("size", choices=["S", "M"])
    parser.add_argument("threads", type=int)
    parser.add_argument("a", type=int, nargs="?", default=2)
    parser.add_argument("b", type=int, nargs="?", default=6)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    profile = os.path.join(args.build, "bench", "profile_cpu_step")
    with tempfile.TemporaryDirectory() as out_dir:
        before = run(profile, args.size, args.threads, args.a, out_dir)
        after = run(profile, args.size, args.threads, args.b, out_dir)
    steps = args.b - args.a
    for index, (x, y) in enumerate(zip(before, after)):
        per_step = {k: (y.get(k, 0) - x.get(k, 0)) / steps for k in set(x) | set(y)}
        total = per_step.pop("TOTAL")
        if total < 1e5:
            continue  # a thread that does no step work (OpenBLAS's idle one)
        print(f"thread {index + 1}: {total / 1e6:.2f} M instructions per step")
        for name, count in sorted(per_step.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"  {count / 1e6:8.2f} M {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
