"""The installed package: the extension beside libvae.so (found through
RUNPATH $ORIGIN, with no LD_LIBRARY_PATH), calling the public C API alone,
with its type stub and py.typed."""
import glob
import os
import re
import shutil
import subprocess

import pytest

import libvae

PACKAGE = os.path.dirname(libvae.__file__)
HEADER = os.path.join(os.path.dirname(__file__), "..", "..", "include", "vae", "vae.h")


def extension():
    (path,) = glob.glob(os.path.join(PACKAGE, "_libvae*.so"))
    return path


def test_the_package_holds_the_library_the_stub_and_py_typed():
    assert glob.glob(os.path.join(PACKAGE, "libvae.so.*"))
    assert os.path.exists(os.path.join(PACKAGE, "py.typed"))
    with open(os.path.join(PACKAGE, "_libvae.pyi")) as f:
        stub = f.read()
    assert "class Trainer:" in stub and "def train_step(self, x:" in stub
    assert re.fullmatch(r"\d+\.\d+\.\d+", libvae.__version__)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils)")
def test_the_extension_finds_libvae_beside_it():
    dynamic = subprocess.run(["readelf", "-d", extension()], capture_output=True, text=True,
                             check=True).stdout
    (needed,) = re.findall(r"NEEDED.*\[(libvae\.so[^\]]*)\]", dynamic)
    assert os.path.exists(os.path.join(PACKAGE, needed))
    assert re.search(r"(RUNPATH|RPATH).*\[\$ORIGIN\]", dynamic)
    assert "LD_LIBRARY_PATH" not in os.environ or PACKAGE not in os.environ["LD_LIBRARY_PATH"]


@pytest.mark.skipif(shutil.which("nm") is None or not os.path.exists(HEADER),
                    reason="needs nm (binutils) and the source tree's vae.h")
def test_the_extension_calls_only_the_public_c_api():
    with open(HEADER) as f:
        public = set(re.findall(r"VAE_API\s[^;]*?\b(vae_\w+)\s*\(", f.read()))
    symbols = subprocess.run(["nm", "-D", "--undefined-only", extension()], capture_output=True,
                             text=True, check=True).stdout
    called = set(re.findall(r"\b(vae_\w+)", symbols))
    assert called and called <= public, called - public
    assert {"vae_train_epoch", "vae_set_progress", "vae_dataset_create_u8"} <= called
