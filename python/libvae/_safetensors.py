"""Reads the safetensors files libvae writes (vae_save): an 8-byte length, a
JSON header (each tensor's dtype, shape and byte range; the configuration
and counters under "__metadata__"), then the tensors' bytes."""
import json
import os
import struct
from typing import Dict, Tuple, Union

import numpy as np

from ._errors import FormatError

_DTYPES = {"F32": np.dtype("<f4")}


def read(path: Union[str, "os.PathLike[str]"]) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """The file's tensors (NumPy arrays of their shapes) and its metadata."""
    with open(path, "rb") as f:
        header, metadata = _header(f, path)
        data = bytearray(f.read())
    tensors = {}
    for name, entry in header.items():
        if entry.get("dtype") not in _DTYPES:
            raise FormatError(f"{path}: tensor {name} has dtype {entry.get('dtype')}, not F32")
        begin, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        count = (end - begin) // dtype.itemsize
        tensors[name] = np.frombuffer(data, dtype, count, begin).reshape(entry["shape"])
    return tensors, metadata


def read_metadata(path: Union[str, "os.PathLike[str]"]) -> Dict[str, str]:
    """The file's "__metadata__" alone."""
    with open(path, "rb") as f:
        return _header(f, path)[1]


def _header(f, path) -> Tuple[dict, Dict[str, str]]:
    prefix = f.read(8)
    if len(prefix) != 8:
        raise FormatError(f"{path}: too short for a safetensors file")
    (length,) = struct.unpack("<Q", prefix)
    try:
        header = json.loads(f.read(length))
    except ValueError as e:
        raise FormatError(f"{path}: the safetensors header is not JSON") from e
    return header, header.pop("__metadata__", {})
