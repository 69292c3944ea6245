"""The conditions of a conditional VAE (condition_dim C >= 1, vae.h
VAE_OPT_CONDITION_DIM): each row's condition c joins the encoder's input and
the decoder's, q(z | x, c) and p(x | z, c).

A call takes them as condition=, one per row: an (n, C) float array (any
array x may be, a DLPack producer on the GPU too), or n class labels, a 1-D
integer array read on the host, each label l in [0, C) standing for the
one-hot row e_l. The extension checks the float arrays' shapes; labels are
checked here, where they become one-hot rows (or, for a dataset, bytes that
the library makes one-hot as it uses them)."""
from typing import Any, Optional

import numpy as np

from ._arrays import as_array, dtype_name
from ._errors import InvalidArgumentError

_INTEGER_DTYPES = frozenset(
    f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64))
_BYTE_LABELS = 256  # classes whose labels fit vae_dataset_set_labels' bytes


def _is_labels(condition: Any) -> bool:
    """Whether condition is a 1-D array of integers (NumPy's or torch's dtype names)."""
    return dtype_name(condition) in _INTEGER_DTYPES and getattr(condition, "ndim", None) == 1


def _labels(condition: Any, dim: int) -> np.ndarray:
    """The labels as int64 on the host, each checked to be in [0, dim)."""
    try:
        labels = np.asarray(condition).astype(np.int64, copy=False)
    except (TypeError, RuntimeError) as e:  # torch's tensors on a GPU, say
        raise InvalidArgumentError(
            f"condition: class labels are read from host memory; {e}") from e
    if labels.size == 0:
        raise InvalidArgumentError("condition: no labels (expected one for each row, n >= 1)")
    bad = np.flatnonzero((labels < 0) | (labels >= dim))
    if bad.size:
        row = int(bad[0])
        raise InvalidArgumentError(
            f"condition: row {row} has label {labels[row]}, not in [0, {dim}) "
            f"(the classes of the one-hot conditions, condition_dim = {dim})")
    return labels


def _one_hot(labels: np.ndarray, dim: int) -> np.ndarray:
    rows = np.zeros((labels.size, dim), dtype=np.float32)
    rows[np.arange(labels.size), labels] = 1.0
    return rows


def given(condition: Any, dim: int) -> bool:
    """Whether a call gives conditions, refusing one whose model needs them
    and gets none, or takes none and gets some."""
    if condition is None:
        if dim > 0:
            raise InvalidArgumentError(
                f"condition: the model is conditional (condition_dim = {dim}): give each row's "
                f"condition=, (n, {dim}) floats or n class labels in [0, {dim})")
        return False
    if dim == 0:
        raise InvalidArgumentError("condition: the model takes no conditions (condition_dim is 0)")
    return True


def for_rows(condition: Any, dim: int) -> Optional[Any]:
    """A call's condition= as the extension takes it: None, or (n, dim)
    floats (labels made one-hot)."""
    if not given(condition, dim):
        return None
    condition = as_array(condition, "condition")
    if _is_labels(condition):
        return _one_hot(_labels(condition, dim), dim)
    return condition


def set_on_dataset(trainer: Any, dataset: Any, condition: Any, dim: int) -> None:
    """Gives a new dataset of a conditional model its rows' conditions:
    labels as bytes where they fit (vae_dataset_set_labels), floats
    otherwise (vae_dataset_set_conditions)."""
    condition = as_array(condition, "condition")
    if not _is_labels(condition):
        trainer.set_dataset_conditions(dataset, condition)
        return
    labels = _labels(condition, dim)
    if labels.size != len(dataset):
        raise InvalidArgumentError(
            f"condition: {labels.size} labels for the dataset's {len(dataset)} rows; "
            "give one label a row")
    if dim <= _BYTE_LABELS:
        trainer.set_dataset_labels(dataset, labels.astype(np.uint8))
    else:
        trainer.set_dataset_conditions(dataset, _one_hot(labels, dim))
