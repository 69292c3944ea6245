#!/usr/bin/env python3
"""Reruns the README's examples and compares what they print with what the
README quotes, so that a figure gone stale fails CI instead of misleading a
reader.

README.md marks what is checked with HTML comments, which GitHub does not
show. NAME is one of EXAMPLES below:

  <!-- readme-check: NAME code -->
      on the line before a fenced block: the example's program (a Python
      program, or one vae-train command line), run as it stands;
  <!-- readme-check: NAME output -->
      on the line before a fenced block: these lines, all of them and in this
      order, are consecutive lines of what the example prints (stdout);
  FIGURE<!-- readme-check: NAME FIGURE_NAME -->
      after a figure in the text or a table cell: the last number before the
      marker equals the figure FIGURE_NAME that the example prints.

Matches are exact: the CPU backend gives the same bits for a seed and a
thread count, and the README's examples name both. OpenBLAS's GEMM kernels
differ between processors, so the examples run with those that every x86-64
processor with AVX2 and FMA runs (see ENVIRONMENT).

usage: check_readme_examples.py [--vae-train PATH] [--python PATH]
                                [--readme PATH] [NAME ...]

NAMEs select examples (default: all). --vae-train is the vae-train binary
(default build/vae-train), --python an interpreter that imports libvae
(default build/venv/bin/python, where tests/python/run.sh installs it),
--readme the file to check (default README.md; an edited copy shows what a
failure reads like).
Exit status: 0 when every quote matches, 1 when one does not (each one
named, with the README's text and the printed text), 77 when this machine
cannot reproduce the figures (no Fashion-MNIST, or not x86-64 with AVX2 and
FMA). The README figures it does not check, and why, are NOT_CHECKED.
"""
import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATASET = Path("/usr/share/datasets/fashion-mnist")

# Both examples train on the CPU backend. OpenBLAS picks its GEMM kernels by
# processor, and kernels of another vector width sum in another order, which
# moves the second decimal after 10 epochs (docs/design.md, "Reductions"); the
# README's figures are those of the Haswell kernels, which OpenBLAS picks on
# AVX2 processors (AMD's Zen 1-3 too). CUDA_VISIBLE_DEVICES hides any GPU, so
# that backend="auto" means the CPU, whose output the README quotes.
ENVIRONMENT = {"OPENBLAS_CORETYPE": "Haswell", "CUDA_VISIBLE_DEVICES": ""}

NOT_CHECKED = """\
Not checked, by design:
  - times and speeds (seconds, rows/s, the ratios to PyTorch): they depend on
    the machine and its load;
  - the Gaussian rows of "Results" and the decoder-variance table: two more
    10-epoch runs with the K=1000 estimate, each as long as the vae-train run
    checked here, too long for CI beside it;
  - the figures of two ranks ("Several processes and GPUs",
    docs/scaling.md): a longer run still, under mpirun;
  - the sentences that read the diagnostics block in words (an ESS of about
    25, about 9.1 nats, ...): they restate the checked block."""


@dataclass
class Example:
    kind: str  # "python" or "vae-train": how its code block runs
    # The figures its markers may name: a pattern over its printed lines
    # whose first group is the figure.
    figures: dict = field(default_factory=dict)


EXAMPLES = {
    # README "Python": the ten-line example's one printed line.
    "python-example": Example("python"),
    # README "Diagnostics": the default vae-train run; its figures are also
    # the Bernoulli row of "Results".
    "vae-train-default": Example("vae-train", {
        "test-elbo": r"^epoch 10/10 .* test elbo (\S+) ",
        "log-px": r"^test log-likelihood: (\S+) nats",
    }),
}


@dataclass
class Quote:
    file: str  # README.md, or the file given as --readme
    line: int  # the marker's line, from 1
    part: str  # "code", "output" or a figure's name
    text: object  # a block's lines, or the figure as written

    def at(self, offset=0):
        """Where the quote's line (or its block's line offset) is."""
        return f"{self.file}:{self.line + offset}"


MARKER = re.compile(r"<!-- readme-check: (\S+) (\S+) -->")
LAST_NUMBER = re.compile(r"(-?\d[\d.]*)[^\d]*$")


def read_quotes(readme):
    """Every marked quote of the README, by example name."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    quotes = {}
    for number, line in enumerate(lines, start=1):
        for marker in MARKER.finditer(line):
            name, part = marker.groups()
            if name not in EXAMPLES:
                sys.exit(f"{readme}:{number}: unknown example {name!r} (known: {', '.join(EXAMPLES)})")
            if part in ("code", "output"):
                text = fenced_block(readme, lines, number)
            else:
                figure = LAST_NUMBER.search(line[:marker.start()])
                if figure is None:
                    sys.exit(f"{readme}:{number}: no figure before the marker of {name} {part}")
                text = figure.group(1).rstrip(".")
            quotes.setdefault(name, []).append(Quote(str(readme), number, part, text))
    return quotes


def fenced_block(readme, lines, marker_line):
    """The lines of the fenced block that starts on the line after the marker."""
    fence = lines[marker_line] if marker_line < len(lines) else ""
    if not fence.startswith("```"):
        sys.exit(f"{readme}:{marker_line}: the marker is not followed by a fenced block")
    end = next((i for i in range(marker_line + 1, len(lines)) if lines[i] == "```"), None)
    if end is None:
        sys.exit(f"{readme}:{marker_line + 1}: the fenced block is not closed")
    return lines[marker_line + 1:end]


def command(example, code, tools, workdir):
    """The example's code as a command line, run in workdir."""
    tool = tools.python if example.kind == "python" else tools.vae_train
    if not tool.is_file():
        sys.exit(f"no {tool} to run the {example.kind} example with (--{example.kind})")
    # Absolute, since it runs in workdir; not resolved, since a virtual
    # environment's python is a link that must keep its own name.
    tool = str(tool.absolute())
    if example.kind == "python":
        program = workdir / "example.py"
        program.write_text("\n".join(code) + "\n", encoding="utf-8")
        return [tool, str(program)]
    # One vae-train command line as the README writes it (build/vae-train
    # ...): the binary under test in its place, and the run's files kept out
    # of the repository.
    words = shlex.split(" ".join(code))
    if not words or Path(words[0]).name != "vae-train":
        sys.exit(f"a vae-train example must be one vae-train command line, not {code!r}")
    return [tool, *words[1:], "--out", str(workdir / "run")]


def output_differences(name, quote, printed):
    """What differs between a quoted block and the printed lines, as
    messages; none when the block is consecutive printed lines."""
    block = quote.text
    n = len(block)
    # The place in the output that agrees on the most lines of the block is
    # where it was meant to be.
    best = max(range(max(1, len(printed) - n + 1)),
               key=lambda i: sum(a == b for a, b in zip(block, printed[i:i + n])))
    messages = []
    for offset, expected in enumerate(block):
        i = best + offset
        got = printed[i] if i < len(printed) else "(nothing: the output ended)"
        if expected != got:
            messages.append(f"{quote.at(2 + offset)}: {name}'s output differs:\n"
                            f"    README:  {expected}\n    printed: {got}")
    return messages


def figure_differences(name, example, quote, printed):
    """A message when the README's figure is not the printed one."""
    pattern = example.figures.get(quote.part)
    if pattern is None:
        return [f"{quote.at()}: {name} prints no figure {quote.part!r} "
                f"(known: {', '.join(example.figures) or 'none'})"]
    found = [m for m in map(re.compile(pattern).search, printed) if m]
    if not found:
        return [f"{quote.at()}: {name} printed no line matching {pattern!r} "
                f"(its figure {quote.part})"]
    got = found[-1].group(1)
    if got == quote.text:
        return []
    return [f"{quote.at()}: {name}'s figure {quote.part} differs:\n"
            f"    README:  {quote.text}\n    printed: {got}   (in {found[-1].string!r})"]


def check(name, quotes, tools):
    """Runs one example and compares; the messages of what differs."""
    example = EXAMPLES[name]
    codes = [q for q in quotes if q.part == "code"]
    if len(codes) != 1:
        return [f"{name} needs exactly one 'code' marker in the README, has {len(codes)}"]
    with tempfile.TemporaryDirectory(prefix=f"readme-{name}-") as directory:
        argv = command(example, codes[0].text, tools, Path(directory))
        print(f"{name}: running {shlex.join(argv)}", flush=True)
        start = time.monotonic()
        run = subprocess.run(argv, cwd=directory, env={**os.environ, **ENVIRONMENT},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=1200)
    if run.returncode != 0:
        return [f"{name} exited with status {run.returncode}; its stderr ends:\n"
                + "\n".join(run.stderr.splitlines()[-20:])]
    printed = run.stdout.splitlines()
    messages = []
    for quote in quotes:
        if quote.part == "output":
            messages += output_differences(name, quote, printed)
        elif quote.part != "code":
            messages += figure_differences(name, example, quote, printed)
    checked = ", ".join(f"{q.at()} {q.part}" for q in quotes if q.part != "code")
    print(f"{name}: {'DIFFERS' if messages else 'matches'} ({checked}), "
          f"{time.monotonic() - start:.0f} s", flush=True)
    return messages


def unreproducible():
    """Why this machine cannot reproduce the README's figures, or None."""
    if not all((DATASET / f"{s}-images-idx3-ubyte.gz").is_file() for s in ("train", "t10k")):
        return f"no Fashion-MNIST in {DATASET} (apt-get install dataset-fashion-mnist)"
    if platform.machine() != "x86_64":
        return f"OpenBLAS's Haswell kernels need x86-64, not {platform.machine()}"
    flags = Path("/proc/cpuinfo").read_text().split()
    if "avx2" not in flags or "fma" not in flags:
        return "OpenBLAS's Haswell kernels need a processor with AVX2 and FMA"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vae-train", type=Path, default=ROOT / "build" / "vae-train")
    parser.add_argument("--python", type=Path, default=ROOT / "build" / "venv" / "bin" / "python")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("names", nargs="*", metavar="NAME")
    tools = parser.parse_args()
    unknown = [n for n in tools.names if n not in EXAMPLES]
    if unknown:
        parser.error(f"unknown example {', '.join(unknown)} (known: {', '.join(EXAMPLES)})")
    quotes = read_quotes(tools.readme)
    names = tools.names or list(EXAMPLES)
    missing = [n for n in names if n not in quotes]
    if missing:
        sys.exit(f"{tools.readme} quotes nothing of {', '.join(missing)} (no readme-check marker)")
    why = unreproducible()
    if why:
        print(f"skipped: this machine cannot reproduce the README's figures: {why}")
        return 77
    messages = [m for name in names for m in check(name, quotes[name], tools)]
    print(NOT_CHECKED)
    if messages:
        print(f"\n{tools.readme} quotes output that its examples no longer print "
              "(rerun them and update the README):", file=sys.stderr)
        print("\n".join(messages), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
