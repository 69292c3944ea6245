"""libvae's exceptions: one class per vae_status, each also the builtin
exception that fits, so that ``except ValueError`` catches a bad argument as
well as ``except libvae.InvalidArgumentError`` does. The message is the
library's (vae_last_error()): it names the argument and what was allowed."""
from ._libvae import Status


class Error(Exception):
    """A libvae call failed and changed nothing."""

    status: Status = Status.INTERNAL


class InvalidArgumentError(Error, ValueError):
    """An argument out of its range: a shape, an option, a value in the data."""

    status = Status.INVALID_ARGUMENT


class OutOfMemoryError(Error, MemoryError):
    """Host or device memory ran out."""

    status = Status.OUT_OF_MEMORY


class DeviceError(Error, RuntimeError):
    """The GPU or its driver failed, or there is none."""

    status = Status.DEVICE


class InputOutputError(Error, OSError):
    """A file could not be read or written."""

    status = Status.IO


class FormatError(Error, ValueError):
    """A checkpoint is malformed or not libvae's."""

    status = Status.FORMAT


class NumericalError(Error, ArithmeticError):
    """A step's loss or gradient was not finite: the step was skipped."""

    status = Status.NUMERICAL


class UnsupportedError(Error, NotImplementedError):
    """The backend cannot do this (a CUDA stream on the CPU backend)."""

    status = Status.UNSUPPORTED


class InternalError(Error, RuntimeError):
    """A bug in libvae."""

    status = Status.INTERNAL


class Interrupted(Error):
    """VAE.interrupt() stopped an epoch or a dataset evaluation that another
    thread ran. An epoch keeps the steps it took and is not counted; an
    evaluation changed nothing. (Ctrl-C raises KeyboardInterrupt itself, which
    ``except Exception`` lets through, as it should.)"""

    status = Status.INTERRUPTED


_BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, OutOfMemoryError, DeviceError, InputOutputError, FormatError,
    NumericalError, UnsupportedError, InternalError, Interrupted)}


def error_class(status: int) -> type:
    """The class raised for a vae_status (the extension calls this)."""
    return _BY_STATUS.get(status, InternalError)
