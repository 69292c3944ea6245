"""fit()'s early stopping and best checkpoint (patience=, best_path=,
history=): the rule of vae-train --patience (apps/early_stopping.h) over
each epoch's validation ELBO.

An epoch improves when its validation ELBO is strictly greater than the
best so far: a tie does not, so the best epoch is the first to reach the
best value; NaN never does, and the first ELBO that is a number does. With
a patience, fit() stops once that many epochs in a row have not improved.
A fit() given an earlier fit()'s history observes its epochs first, so that
it stops where one uninterrupted fit() would."""
import math
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

from ._errors import InvalidArgumentError
from ._options import INT64, integer, real


class EarlyStopping:
    """The rule's state over one fit(), and what it adds to each epoch's
    dict: best_epoch (the model's epoch count after the best epoch so far,
    None while no ELBO was a number) and epochs_without_improvement (since
    it). Inert, adding nothing, when fit() has neither patience nor
    best_path."""

    def __init__(self, patience: Any, best_path: Any, validation: Any, history: Any,
                 model_epochs: int):
        """Checks fit()'s arguments before anything runs; raises
        InvalidArgumentError naming the first that is wrong."""
        self.patience: Optional[int] = None
        if patience is not None:
            self.patience = integer(patience, "patience", INT64)
            if self.patience < 1:
                raise InvalidArgumentError(f"patience: must be at least 1, got {self.patience}")
        self.best_path: Optional[str] = None
        if best_path is not None:
            self.best_path = _path(best_path)
        self.active = self.patience is not None or self.best_path is not None
        if self.active and validation is None:
            watching = "patience" if self.patience is not None else "best_path"
            raise InvalidArgumentError(
                f"{watching}: needs validation data (validation=), whose ELBO it watches")
        self.history = _earlier(history, model_epochs, self.active)
        self.last_epoch: Optional[int] = None
        self.best_epoch: Optional[int] = None
        self.best_elbo = math.nan
        self.since_best = 0

    @property
    def stopped(self) -> bool:
        """Whether patience epochs in a row have not improved."""
        return self.patience is not None and self.since_best >= self.patience

    def resume(self, model: Any, held_out: Any) -> List[Dict[str, Any]]:
        """Observes the earlier history's epochs (validating the last one
        first where a Ctrl-C stopped its validation, as the uninterrupted
        fit() did then), and saves the model to best_path when its epoch,
        the last, is the best: a Ctrl-C may have come before that save.
        Returns the history for fit() to extend."""
        if not self.active or not self.history:
            return self.history
        last = self.history[-1]
        if "validation_elbo" not in last:
            elbo, reconstruction, kl = model.evaluate_dataset(held_out)
            last.update(validation_elbo=elbo, validation_reconstruction=reconstruction,
                        validation_kl=kl)
        for metrics in self.history:
            if self.stopped:
                raise InvalidArgumentError(
                    f"history: with patience {self.patience} the run stops after epoch "
                    f"{self.last_epoch}, but history goes on to epoch {last['epoch']}")
            self._observe(metrics)
        if self.best_path is not None and self.best_epoch == last["epoch"]:
            model.save(self.best_path)
        return self.history

    def after_epoch(self, model: Any, metrics: Dict[str, Any]) -> None:
        """Observes a new epoch's ELBO, saving the model to best_path when it improves."""
        if self.active and self._observe(metrics) and self.best_path is not None:
            model.save(self.best_path)

    def stop_line(self) -> str:
        """The line fit() shows when it stops early."""
        if self.best_epoch is None:
            return (f"early stop after epoch {self.last_epoch}: no validation ELBO in "
                    f"{self.since_best} epoch(s) was a number (patience {self.patience})")
        kept = f", saved in {self.best_path}" if self.best_path is not None else ""
        return (f"early stop after epoch {self.last_epoch}: the validation ELBO "
                f"has not improved for {self.since_best} epoch(s) (patience {self.patience}); "
                f"the best, {self.best_elbo:.6g} nats, is epoch {self.best_epoch}'s{kept}")

    def _observe(self, metrics: Dict[str, Any]) -> bool:
        """Counts the epoch's ELBO into the rule and its dict; True when it improves."""
        elbo = metrics["validation_elbo"]
        self.last_epoch = metrics["epoch"]
        improved = not math.isnan(elbo) and (self.best_epoch is None or elbo > self.best_elbo)
        if improved:
            self.best_epoch, self.best_elbo, self.since_best = metrics["epoch"], elbo, 0
        else:
            self.since_best += 1
        metrics.update(best_epoch=self.best_epoch, epochs_without_improvement=self.since_best)
        return improved


def _path(path: Any) -> str:
    """best_path as a str, refused unless its folder exists (checked now,
    so that a typo fails before the first epoch, not after it)."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise InvalidArgumentError(
            f"best_path: expected a path, got {type(path).__name__}") from None
    if isinstance(text, bytes):
        raise InvalidArgumentError("best_path: expected a str path, got bytes")
    if not text or "\0" in text:
        raise InvalidArgumentError(f"best_path: {text!r} is not a file name")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        raise InvalidArgumentError(f"best_path: the folder {folder} does not exist")
    return text


def _earlier(history: Any, model_epochs: int, watching: bool) -> List[Dict[str, Any]]:
    """A copy of the history an earlier fit() of this model returned (or its
    KeyboardInterrupt's): dicts of consecutive epochs ending at the model's,
    each with its validation_elbo where the rule will observe it (the last
    may lack it: a Ctrl-C during its validation)."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise InvalidArgumentError(
            f"history: expected the list of dicts a fit() returned, got {type(history).__name__}")
    copies: List[Dict[str, Any]] = []
    for index, metrics in enumerate(history):
        if not isinstance(metrics, Mapping) or "epoch" not in metrics:
            raise InvalidArgumentError(f"history[{index}]: expected a dict of an epoch's metrics")
        copy = dict(metrics)
        copy["epoch"] = integer(copy["epoch"], f"history[{index}]['epoch']", INT64)
        if copies and copy["epoch"] != copies[-1]["epoch"] + 1:
            raise InvalidArgumentError(f"history[{index}]: epoch {copy['epoch']} follows epoch "
                                       f"{copies[-1]['epoch']}; the epochs must be consecutive")
        if "validation_elbo" in copy:
            copy["validation_elbo"] = real(copy["validation_elbo"],
                                           f"history[{index}]['validation_elbo']")
        elif watching and index + 1 < len(history):
            raise InvalidArgumentError(
                f"history[{index}]: epoch {copy['epoch']} has no validation_elbo to observe")
        copies.append(copy)
    if copies and copies[-1]["epoch"] != model_epochs:
        raise InvalidArgumentError(
            f"history: ends at epoch {copies[-1]['epoch']}, but the model has trained "
            f"{model_epochs} epochs: give the history of this model's fit()")
    return copies
