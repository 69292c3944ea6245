"""VAE's properties that are options of its trainer (VAE_OPT_*): each is read
from the library when asked, and set through it where the C API lets a live
trainer change it (vae_set_int/float); the others are fixed when the model
is made."""
import operator
from typing import Any, Callable, Generic, Mapping, Optional, Tuple, TypeVar, overload

from . import _libvae
from ._errors import InvalidArgumentError

T = TypeVar("T")


class Option(Generic[T]):
    """One VAE_OPT_* as a property of type T: float, int, bool, or str for
    the options whose values are named (``names``: name -> the C value)."""

    def __init__(self, option: _libvae.Option, kind: Callable[..., T],
                 names: Optional[Mapping[str, int]] = None, settable: bool = False):
        self.option = option
        self.kind = kind
        self.names = names
        self.settable = settable
        self.name = option.name.lower()

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, model: None, owner: Optional[type] = None) -> "Option[T]": ...

    @overload
    def __get__(self, model: Any, owner: Optional[type] = None) -> T: ...

    def __get__(self, model: Any, owner: Optional[type] = None) -> Any:
        if model is None:
            return self
        trainer = model._trainer
        if self.kind is float:
            return trainer.get_float(self.option)
        value = trainer.get_int(self.option)
        if self.names is not None:
            return next(name for name, v in self.names.items() if v == value)
        return self.kind(value)

    def __set__(self, model: Any, value: T) -> None:
        if not self.settable:
            raise AttributeError(f"{self.name} is fixed when the model is made")
        self.apply(model._trainer, value)

    def apply(self, target: Any, value: Any) -> None:
        """Sets the option on a _libvae.Config or a _libvae.Trainer."""
        if self.kind is float:
            target.set_float(self.option, real(value, self.name))
        else:
            target.set_int(self.option, self.to_int(value))

    def to_int(self, value: Any) -> int:
        if self.names is None:
            return integer(value, self.name, INT64)
        return named(self.names, value, self.name)


# The ranges of the C API's integer types, for integer().
INT32 = (-2**31, 2**31 - 1)
INT64 = (-2**63, 2**63 - 1)
UINTPTR = (0, 2**64 - 1)


def integer(value: Any, argument: str, bounds: Tuple[int, int]) -> int:
    """value as an int that the C type of `bounds` holds (INT32, INT64,
    UINTPTR), or an InvalidArgumentError naming the argument; the library
    then checks the argument's own range."""
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidArgumentError(
            f"{argument}: expected an integer, got {type(value).__name__}") from None
    low, high = bounds
    if not low <= number <= high:
        raise InvalidArgumentError(f"{argument}: must be in [{low}, {high}], got {number}")
    return number


def real(value: Any, argument: str) -> float:
    """value as a float, or an InvalidArgumentError naming the argument."""
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{argument}: expected a real number, got {value!r}") from None


def named(names: Mapping[str, int], value: Any, argument: str) -> int:
    """The C value of a named one (names: name -> value), or a refusal naming the argument."""
    if not isinstance(value, str) or value not in names:
        raise InvalidArgumentError(
            f"{argument}: expected one of {', '.join(map(repr, names))}, got {value!r}")
    return names[value]
