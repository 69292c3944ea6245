"""libvae: variational autoencoders trained on a CUDA GPU or the CPU.

    import libvae
    model = libvae.VAE(latent_dim=20)            # 784-400-20, Bernoulli decoder
    history = model.fit(images_uint8, epochs=10)  # binarized anew at each use
    model.evaluate(x).elbo                        # per-row ELBO, nats

A Python front end to libvae.so's C API (vae.h), which sits beside this
package; see help(libvae.VAE).
"""
from ._errors import (DeviceError, Error, FormatError, InputOutputError, InternalError, Interrupted,
                      InvalidArgumentError, NumericalError, OutOfMemoryError, UnsupportedError)
from ._distributed import torch_allreduce
from ._libvae import Dataset, version as _library_version
from ._model import VAE, Evaluation, load

_v = _library_version()
__version__ = f"{_v // 10000}.{_v // 100 % 100}.{_v % 100}"

__all__ = ["VAE", "load", "Dataset", "Evaluation", "torch_allreduce", "Error", "InvalidArgumentError",
           "OutOfMemoryError", "DeviceError", "InputOutputError", "FormatError", "NumericalError",
           "UnsupportedError", "InternalError", "Interrupted"]
