"""VAE's properties that are options of its trainer (VAE_OPT_*): each is read
from the library when asked, and set through it where the C API lets a live
trainer change it (vae_set_int/float); the others are fixed when the model
is made."""
import operator
from typing import Any, Callable, Generic, Mapping, Optional, TypeVar, overload

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
            target.set_float(self.option, float(value))
        else:
            target.set_int(self.option, self.to_int(value))

    def to_int(self, value: Any) -> int:
        if self.names is None:
            return operator.index(value)
        return named(self.names, value, self.name)


def named(names: Mapping[str, int], value: Any, argument: str) -> int:
    """The C value of a named one (names: name -> value), or a refusal naming the argument."""
    if not isinstance(value, str) or value not in names:
        raise InvalidArgumentError(
            f"{argument}: expected one of {', '.join(map(repr, names))}, got {value!r}")
    return names[value]
