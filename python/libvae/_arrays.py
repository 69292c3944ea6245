"""The arrays the package hands the extension: what it takes as it is, and
what it reads through NumPy first."""
from typing import Any

import numpy as np

from ._errors import InvalidArgumentError


def as_array(x: Any, name: str) -> Any:
    """x as the extension takes it: NumPy arrays and DLPack producers (torch,
    CuPy, JAX) as they are, since nanobind converts a dtype or an order once
    where it must; anything else through NumPy."""
    if isinstance(x, np.ndarray) or hasattr(x, "__dlpack__"):
        return x
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"{name}: expected an array of numbers, got {type(x).__name__}") from e


def dtype_name(x: Any) -> str:
    """The name of x's dtype, NumPy's or torch's alike ("uint8", "float32")."""
    return str(getattr(x, "dtype", "")).replace("torch.", "")


def is_bytes(x: Any) -> bool:
    return dtype_name(x) == "uint8"
