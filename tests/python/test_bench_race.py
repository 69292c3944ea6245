"""bench/race.py --dry-run, the race's one check that needs no framework
but NumPy: libvae's first step against the NumPy loss of the parameters as
the JAX contender maps them, under bench/libvae_noise.py's twin of libvae's
epsilon. It fails when the twin or the mapping drifts from the library."""
import os
import subprocess
import sys

RACE = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "race.py")


def test_the_race_maps_parameters_and_noise_as_libvae_draws_them():
    run = subprocess.run([sys.executable, RACE, "--dry-run"], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("AGREE") == 2
