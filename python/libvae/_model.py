"""libvae.VAE: a model and its optimizer, trained by the library."""
import os
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

from . import _conditions, _libvae, _safetensors
from ._arrays import as_array as _array, is_bytes as _is_bytes
from ._diagnostics import Diagnostics
from ._early_stopping import EarlyStopping
from ._errors import Interrupted, InvalidArgumentError
from ._libvae import Option as O
from ._options import INT32, INT64, UINTPTR, Option, integer, named, real
from ._progress import EpochProgress

PathLike = Union[str, "os.PathLike[str]"]


class Evaluation(NamedTuple):
    """ELBO = reconstruction - KL, in nats: per row (arrays) or means (floats)."""

    elbo: Any
    reconstruction: Any
    kl: Any


def _widths(hidden: Any) -> Tuple[int, ...]:
    """The hidden widths as a tuple, read once (a generator gives them once);
    a string, which would give its characters, or anything else not a
    sequence of integers is refused."""
    if isinstance(hidden, (str, bytes, bytearray)) or not hasattr(hidden, "__iter__"):
        raise InvalidArgumentError(
            f"hidden: expected a sequence of integer widths, got {type(hidden).__name__}")
    return tuple(integer(w, "hidden", INT32) for w in hidden)


def _adaptive(target_std_error: Optional[float], k_max: Optional[int]) -> Tuple[bool, int, float]:
    """(adaptive, k_max, target) for the extension: adaptive when either is
    given; a missing one is passed as a value the library refuses, naming it."""
    if target_std_error is None and k_max is None:
        return False, 0, 0.0
    if target_std_error is None:
        target = float("nan")
    else:
        target = real(target_std_error, "target_std_error")
    return True, 0 if k_max is None else integer(k_max, "k_max", INT32), target


class VAE(Diagnostics):
    """A variational autoencoder (MLP encoder and decoder) with its Adam
    optimizer, trained by libvae on the CPU or a CUDA GPU.

    Arrays in: anything NumPy reads, or any DLPack producer (on the GPU too,
    for the CUDA backend), of shape (n, input_dim) (z: (n, latent_dim));
    C-contiguous float32 passes without a copy. Arrays out: NumPy, on the host.

    A conditional VAE (condition_dim C >= 1) takes each row's condition c
    beside it, q(z | x, c) and p(x | z, c): every call with rows takes
    condition=, an (n, C) float array or n class labels in [0, C) (a 1-D
    integer array, on the host; label l is the one-hot row e_l), and needs
    it; a model without conditions refuses one.

    Every call releases the GIL; a model is used by one thread at a time (the
    others wait), and distinct models train at once on distinct threads.
    """

    input_dim = Option(O.INPUT_DIM, int)
    latent_dim = Option(O.LATENT_DIM, int)
    max_batch = Option(O.MAX_BATCH, int)
    likelihood = Option(O.LIKELIHOOD, str, _libvae.LIKELIHOODS)
    variance = Option(O.VARIANCE, str, _libvae.VARIANCES)
    log_variance = Option(O.LOG_VARIANCE, float)
    # variance="decoder": the decoder predicts each dimension's log variance,
    # bounded below by min_log_variance (vae.h, VAE_OPT_MIN_LOG_VARIANCE).
    min_log_variance = Option(O.MIN_LOG_VARIANCE, float)
    activation = Option(O.ACTIVATION, str, _libvae.ACTIVATIONS)
    backend = Option(O.BACKEND, str, _libvae.BACKENDS)
    device = Option(O.DEVICE, int)
    seed = Option(O.SEED, int)
    samples = Option(O.SAMPLES, int)
    # 0: the standard normal prior; K >= 1: a learned mixture of K Gaussians
    # (vae.h, VAE_OPT_PRIOR_COMPONENTS), whose KL is the sampled one.
    prior_components = Option(O.PRIOR_COMPONENTS, int)
    # C >= 1: a conditional VAE, each row with C condition values (vae.h,
    # VAE_OPT_CONDITION_DIM); encoder.0 takes [x | c], decoder.0 [z | c].
    condition_dim = Option(O.CONDITION_DIM, int)
    objective = Option(O.OBJECTIVE, str, _libvae.OBJECTIVES, settable=True)
    update = Option(O.UPDATE, str, _libvae.UPDATES, settable=True)
    learning_rate = Option(O.LEARNING_RATE, float, settable=True)
    eps = Option(O.ADAM_EPSILON, float, settable=True)
    kl_weight = Option(O.KL_WEIGHT, float, settable=True)
    threads = Option(O.THREADS, int, settable=True)
    tf32 = Option(O.TF32, bool, settable=True)
    eval_rows = Option(O.EVAL_ROWS, int, settable=True)
    rank = Option(O.RANK, int, settable=True)
    world_size = Option(O.WORLD_SIZE, int, settable=True)
    # The rate of step t: a warm-up over warmup_steps, then lr_schedule's
    # decay ("constant", "linear", "cosine") over decay_steps to
    # final_learning_rate (vae.h, VAE_OPT_LR_SCHEDULE; a decaying schedule set
    # on a live model needs decay_steps set first). clip_norm > 0 clips the
    # gradient's global norm as torch.nn.utils.clip_grad_norm_ does.
    lr_schedule = Option(O.LR_SCHEDULE, str, _libvae.SCHEDULES, settable=True)
    warmup_steps = Option(O.WARMUP_STEPS, int, settable=True)
    decay_steps = Option(O.DECAY_STEPS, int, settable=True)
    final_learning_rate = Option(O.FINAL_LEARNING_RATE, float, settable=True)
    clip_norm = Option(O.CLIP_NORM, float, settable=True)
    steps = Option(O.STEPS, int)
    epochs = Option(O.EPOCHS, int)
    skipped_steps = Option(O.SKIPPED_STEPS, int)
    grad_norm = Option(O.GRAD_NORM, float)  # the last step's, before clipping
    next_learning_rate = Option(O.NEXT_LEARNING_RATE, float)

    _beta1 = Option(O.ADAM_BETA1, float, settable=True)
    _beta2 = Option(O.ADAM_BETA2, float, settable=True)

    def __init__(self, input_dim: int = 784, latent_dim: int = 20, hidden: Sequence[int] = (400,),
                 likelihood: str = "bernoulli", variance: str = "fixed", log_variance: float = 0.0,
                 activation: str = "relu", backend: str = "auto", device: int = 0, seed: int = 1,
                 max_batch: int = 128, samples: int = 1, objective: str = "elbo",
                 learning_rate: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, kl_weight: float = 1.0, threads: int = 1, tf32: bool = False,
                 eval_rows: int = 0, world_size: int = 1, rank: int = 0,
                 lr_schedule: str = "constant", warmup_steps: int = 0, decay_steps: int = 0,
                 final_learning_rate: float = 0.0, clip_norm: float = 0.0,
                 min_log_variance: float = -9.0, prior_components: int = 0,
                 condition_dim: int = 0):
        arguments = dict(locals())  # each option's argument, by its property's name
        widths = _widths(hidden)
        config = _libvae.Config()
        config.set_hidden_layers(list(widths))
        for name, value in arguments.items():
            option = getattr(VAE, name, None)
            if isinstance(option, Option):
                option.apply(config, value)
        beta1, beta2 = betas
        VAE._beta1.apply(config, beta1)
        VAE._beta2.apply(config, beta2)
        self._trainer = _libvae.Trainer(config)

    @classmethod
    def _of(cls, trainer: _libvae.Trainer) -> "VAE":
        model = cls.__new__(cls)
        model._trainer = trainer
        return model

    @property
    def hidden(self) -> Tuple[int, ...]:
        """The encoder's hidden widths, input side first; the decoder mirrors
        them. Read from the trainer, as every option is."""
        return tuple(self._trainer.hidden_layers())

    @property
    def betas(self) -> Tuple[float, float]:
        """Adam's (beta1, beta2)."""
        return self._beta1, self._beta2

    @betas.setter
    def betas(self, betas: Tuple[float, float]) -> None:
        beta1, beta2 = betas
        old = self._beta1
        self._beta1 = beta1
        try:
            self._beta2 = beta2
        except BaseException:
            self._beta1 = old
            raise

    @property
    def parameter_count(self) -> int:
        return self._trainer.parameter_count()

    def __repr__(self) -> str:
        return (f"libvae.VAE(input_dim={self.input_dim}, latent_dim={self.latent_dim}, "
                f"hidden={self.hidden}, likelihood={self.likelihood!r}, backend={self.backend!r}, "
                f"steps={self.steps})")

    # ---- steps and evaluation -------------------------------------------------

    def _condition(self, condition: Any) -> Any:
        """condition= as the extension takes it (_conditions.for_rows)."""
        return _conditions.for_rows(condition, self._trainer.condition_dim)

    def train_step(self, x: Any, return_loss: bool = True,
                   condition: Any = None) -> Optional[float]:
        """One Adam step on the rows of x (at most max_batch); the mean loss per
        row in nats. return_loss=False queues the step (on a GPU) without
        waiting for its loss, and returns None. condition: the rows'
        conditions of a conditional model (after return_loss, where it was
        before conditions came, so pass it by name)."""
        return self._trainer.train_step(_array(x, "x"), return_loss, self._condition(condition))

    def evaluate(self, x: Any, condition: Any = None) -> Evaluation:
        """Per row: the ELBO, E_q log p(x|z) and KL(q(z|x) || p(z)), in nats."""
        return Evaluation(*self._trainer.evaluate(_array(x, "x"), self._condition(condition)))

    def log_likelihood(self, x: Any, k: int = 1000, estimator: str = "importance",
                       stats: bool = False, target_std_error: Optional[float] = None,
                       k_max: Optional[int] = None, condition: Any = None) -> Any:
        """Per row, an estimate of log p(x) (nats) from k samples of z, drawn
        from q(z|x) ("importance") or from the prior ("prior").

        stats=True returns a dict of per-row arrays instead: "log_px" (the
        same estimates, bit for bit), "std_error" (its standard error by the
        delta method, sqrt(Var(w) / K) / mean(w)), "ess" (the effective
        sample size (sum w)^2 / sum w^2) and "k_used". With
        target_std_error (and k_max), K is adaptive: each row draws k, 2k,
        4k, ... samples, up to k_max, until its standard error is at most
        the target (stats implied); at the K a row reports, its figures equal
        those of a fixed-K call (vae_log_likelihood_stats)."""
        x = _array(x, "x")
        code = named(_libvae.ESTIMATORS, estimator, "estimator")
        k = integer(k, "k", INT32)
        condition = self._condition(condition)
        if not stats and target_std_error is None and k_max is None:
            return self._trainer.log_likelihood(x, k, code, condition)
        adaptive, k_max, target = _adaptive(target_std_error, k_max)
        log_px, std_error, ess, k_used = self._trainer.log_likelihood_stats(
            x, k, code, adaptive, k_max, target, condition)
        return {"log_px": log_px, "std_error": std_error, "ess": ess, "k_used": k_used}

    def encode(self, x: Any, condition: Any = None) -> Tuple[np.ndarray, np.ndarray]:
        """q(z|x)'s mean and log variance, (n, latent_dim) each."""
        return self._trainer.encode(_array(x, "x"), self._condition(condition))

    def decode(self, z: Any, condition: Any = None) -> np.ndarray:
        """The decoder's means (Bernoulli: probabilities) for the rows of z,
        row i under condition i."""
        return self._trainer.decode(_array(z, "z"), self._condition(condition))

    def sample(self, n: int, condition: Any = None) -> np.ndarray:
        """The decoder's means for n draws z ~ p(z). A conditional model
        decodes draw i under condition i: n class labels (np.full(n, k) for
        n samples of class k) or (n, condition_dim) floats."""
        return self._trainer.sample(integer(n, "n", INT64), self._condition(condition))

    # ---- datasets and epochs ---------------------------------------------------

    def dataset(self, data: Any, transform: Optional[str] = None, name: str = "data",
                condition: Any = None) -> _libvae.Dataset:
        """data held by the backend (on the GPU for CUDA) for train_epoch and
        the dataset evaluations. uint8 data stays bytes and is transformed at
        each use: "binarize" (x ~ Bernoulli(y/255); the default for a Bernoulli
        model), "dequantize" (x = (y+u)/256; the default otherwise) or "scale"
        (x = y/255). Float data is used as it is, with transform None.
        A conditional model's dataset holds its rows' conditions too: class
        labels stay bytes, made one-hot as the rows are used."""
        data = _array(data, name)
        dim = self._trainer.condition_dim
        conditional = _conditions.given(condition, dim)  # checked before the rows are copied
        if _is_bytes(data):
            if transform is None:
                transform = "binarize" if self.likelihood == "bernoulli" else "dequantize"
            code = named(_libvae.BYTE_TRANSFORMS, transform, "transform")
            dataset = self._trainer.dataset_u8(data, code, name)
        elif transform is not None:
            raise InvalidArgumentError(
                f"transform: {transform!r} applies to uint8 data; {name} has dtype "
                f"{getattr(data, 'dtype', type(data).__name__)} and is used as it is")
        else:
            dataset = self._trainer.dataset(data, name)
        if conditional:
            _conditions.set_on_dataset(self._trainer, dataset, condition, dim)
        return dataset

    def train_epoch(self, dataset: _libvae.Dataset, batch_size: int = 128, progress: Any = None) -> float:
        """One pass over dataset in a shuffled order, batch_size rows a step;
        the mean loss per row. progress(rows_done, rows_total, mean_loss) is
        called up to 65 times (after every step of an epoch of at most 64).
        At each of those calls, a pending Ctrl-C, or an exception progress
        raises, stops the epoch before its next step and is raised: the
        steps taken stay (steps counts them), the epoch is not counted
        (epochs stays), and the next epoch starts from its beginning."""
        return self._trainer.train_epoch(dataset, integer(batch_size, "batch_size", INT64), progress)

    def interrupt(self) -> None:
        """Stops the train_epoch, evaluate_dataset or log_likelihood_dataset
        that another thread runs on this model before its next step or chunk
        of rows; that call raises libvae.Interrupted. With none running it
        does nothing. Safe from any thread (it does not wait for the model)."""
        self._trainer.interrupt()

    def evaluate_dataset(self, dataset: _libvae.Dataset, progress: Any = None) -> Evaluation:
        """Means over the dataset's rows of evaluate()'s figures.
        progress(rows_done, rows_total, mean_elbo) is called up to 65 times;
        at those calls a pending Ctrl-C, or an exception progress raises,
        stops the evaluation before its next chunk and is raised."""
        return Evaluation(*self._trainer.evaluate_dataset(dataset, progress))

    def log_likelihood_dataset(self, dataset: _libvae.Dataset, k: int = 1000,
                               estimator: str = "importance", progress: Any = None,
                               stats: bool = False, target_std_error: Optional[float] = None,
                               k_max: Optional[int] = None) -> Any:
        """The mean over the dataset's rows of log_likelihood()'s estimates.
        progress(rows_done, rows_total, mean_so_far) is called up to 65 times
        (with adaptive K, up to 65 times per round of K);
        at those calls a pending Ctrl-C, or an exception progress raises,
        stops the estimate before its next chunk and is raised.

        stats, target_std_error and k_max as for log_likelihood(): a dict of
        "log_px" (the mean), "std_error" (its Monte Carlo standard error,
        sqrt(sum of the rows' squared errors) / n), "ess" and "k_used" (means)."""
        k = integer(k, "k", INT32)
        code = named(_libvae.ESTIMATORS, estimator, "estimator")
        if not stats and target_std_error is None and k_max is None:
            return self._trainer.log_likelihood_dataset(dataset, k, code, progress)
        adaptive, k_max, target = _adaptive(target_std_error, k_max)
        log_px, std_error, ess, k_used = self._trainer.log_likelihood_stats_dataset(
            dataset, k, code, adaptive, k_max, target, progress)
        return {"log_px": log_px, "std_error": std_error, "ess": ess, "k_used": k_used}

    def fit(self, data: Any, epochs: int = 10, batch_size: int = 128, transform: Optional[str] = None,
            validation: Any = None, progress: bool = True, patience: Optional[int] = None,
            best_path: Optional[PathLike] = None,
            history: Optional[Sequence[Dict[str, Any]]] = None, condition: Any = None,
            validation_condition: Any = None) -> List[Dict[str, Any]]:
        """Trains for `epochs` epochs over data (see dataset() for transform);
        returns one dict of metrics per epoch: epoch, loss, seconds and, with
        validation data, validation_elbo, validation_reconstruction and
        validation_kl (means, nats). A conditional model takes the rows'
        condition= (class labels or (n, condition_dim) floats) and the
        validation rows' validation_condition=.

        Early stopping, on validation data: patience=N stops once N epochs
        in a row have not improved the validation ELBO (strictly greater than
        the best so far: a tie or NaN does not improve); best_path= saves the
        model there at each improvement. Both add best_epoch (None while no
        ELBO was a number) and epochs_without_improvement to each dict. The
        model stays the last epoch's; load(best_path) gives the best.
        history= continues an earlier fit() of this model (the list it
        returned, or its KeyboardInterrupt's): its epochs count, and the list
        returned extends a copy of it, so a resumed fit() stops as an
        uninterrupted one would; after a stop it trains nothing. Bad values
        raise InvalidArgumentError before anything runs.

        Ctrl-C (with progress=False too) stops the epoch under way before its
        next step (train_epoch: within a 64th of the epoch) and raises
        KeyboardInterrupt, with the model intact: the steps taken stay, the
        stopped epoch is not counted, and the exception's ``history`` holds
        the metrics of the epochs completed (an epoch's validation figures
        are missing where Ctrl-C came during its validation; and where it came
        after the epoch's last progress call, in the instant before fit()
        recorded the epoch, the model's epochs count one more than history).
        interrupt() from another thread stops fit() the same way, raising
        libvae.Interrupted.

        With an allreduce hook (set_allreduce) the epochs are shared by the
        ranks: Ctrl-C (or interrupt()) on any rank stops the epoch on every
        rank at the same step, within a 64th of the epoch; the ranks that
        were not interrupted raise libvae.Interrupted. Only rank 0 shows
        progress. Each rank decides an early stop from its own validation
        ELBO: give every rank the same validation data (their models and
        evaluations agree bit for bit), and best_path to one rank."""
        stopping = EarlyStopping(patience, best_path, validation, history, self.epochs)
        train = self.dataset(data, transform, condition=condition)
        if validation is None:
            if validation_condition is not None:
                raise InvalidArgumentError("validation_condition: given without validation data")
            held_out = None
        else:
            held_out = self.dataset(validation, transform, "validation", validation_condition)
        show = progress and self.rank == 0  # one bar for ranks that share the epochs
        results: List[Dict[str, Any]] = stopping.history
        try:
            results = stopping.resume(self, held_out)
            for index in range(1, epochs + 1):
                if stopping.stopped:
                    break
                self._fit_epoch(train, held_out, batch_size,
                                f"epoch {index}/{epochs}" if show else None, results)
                stopping.after_epoch(self, results[-1])
        except (KeyboardInterrupt, Interrupted) as stop:
            stop.history = results  # type: ignore[union-attr]
            raise
        if show and stopping.stopped:
            print(stopping.stop_line(), file=sys.stderr)
        return results

    def _fit_epoch(self, train: _libvae.Dataset, held_out: Optional[_libvae.Dataset], batch_size: int,
                   label: Optional[str], history: List[Dict[str, float]]) -> None:
        """One epoch of fit(): its metrics go into history as soon as it is
        trained, the validation figures then."""
        display = EpochProgress(label, len(train)) if label else None
        start = time.perf_counter()
        metrics: Dict[str, float] = {}
        try:
            loss = self.train_epoch(train, batch_size, display.update if display else None)
            metrics = {"epoch": self.epochs, "loss": loss, "seconds": time.perf_counter() - start}
            history.append(metrics)
            if held_out is not None:
                elbo, reconstruction, kl = self.evaluate_dataset(held_out)
                metrics.update(validation_elbo=elbo, validation_reconstruction=reconstruction,
                               validation_kl=kl)
        finally:
            if display:
                display.close(metrics)

    # ---- parameters and checkpoints ------------------------------------------------

    def parameters(self) -> np.ndarray:
        """All parameters as one flat float32 array (a copy)."""
        return self._trainer.get_parameters()

    def set_parameters(self, values: Any) -> None:
        """Replaces all parameters with a flat array of parameter_count values."""
        self._trainer.set_parameters(_array(values, "parameters"))

    def save(self, path: PathLike) -> None:
        """A safetensors checkpoint (parameters, optimizer state, counters),
        written atomically; libvae.load() resumes it exactly."""
        self._trainer.save(os.fspath(path))

    def state_dict(self) -> Dict[str, np.ndarray]:
        """The parameters by their PyTorch names and shapes (encoder.0.weight:
        (hidden[0], input_dim), ...), as a checkpoint holds them."""
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "model.safetensors")
            self.save(path)
            tensors, _ = _safetensors.read(path)
        return {name: t for name, t in tensors.items() if not name.startswith("optimizer.")}

    def to_torch(self) -> Any:
        """A torch.nn.Module with these layers and weights: encode, decode and
        forward as here (needs PyTorch)."""
        from ._torch import to_torch
        return to_torch(self)

    # ---- data parallelism ------------------------------------------------------

    def set_allreduce(self, hook: Optional[Callable[[Any, Optional[int]], None]]) -> None:
        """Trains as one of world_size ranks: hook(buffer, stream) is called
        once per step (train_step, and each step of train_epoch and fit) and
        must replace the float32 buffer, in place, by its sum over the ranks
        (every rank must get the same bits). None removes the hook.

        buffer is the step's flat gradient and a tail the ranks use to agree
        (see vae.h, vae_set_allreduce): on the CPU backend a NumPy array and
        stream None; on the CUDA backend a GPU array that DLPack consumers
        take without a copy (torch.from_dlpack) and stream the cudaStream_t
        (an int) to order the sum on. The array views the model's own memory
        and is valid only during the call. An exception the hook raises fails
        the step, which changes nothing, and is raised by the call that took
        it. Set rank and world_size too; each rank trains rows of each batch
        (train_step: its own n rows of a batch of world_size * n; train_epoch
        and fit: its share of each batch_size rows of the same shuffled order,
        every rank holding the whole data). torch_allreduce() makes a hook of
        torch.distributed."""
        self._trainer.set_allreduce(hook)

    def set_cuda_stream(self, stream: Any) -> None:
        """Queues the model's GPU work on the caller's CUDA stream: a
        cudaStream_t as an int, or an object with .cuda_stream (torch) or .ptr
        (CuPy); None returns to the model's own stream."""
        if stream is None:
            handle = 0
        else:
            handle = getattr(stream, "cuda_stream", getattr(stream, "ptr", stream))
        self._trainer.set_cuda_stream(integer(handle, "stream", UINTPTR))


def load(path: PathLike, backend: str = "auto", *, device: Optional[int] = None,
         max_batch: Optional[int] = None, threads: Optional[int] = None,
         eval_rows: Optional[int] = None, tf32: Optional[bool] = None) -> VAE:
    """A model from a checkpoint of VAE.save() or vae-train, with its optimizer
    state and counters, on the backend named ("auto": CUDA where available).

    A checkpoint holds, beside the model, choices that size memory and
    threads; each of device, max_batch, threads, eval_rows and tf32 given
    here replaces the file's (vae_load_config), so an untrusted file cannot
    make the library allocate or start more than the caller allows. Those
    not given are the file's, the threads lowered to the CPUs this process
    may use."""
    choices = _libvae.Config()
    for name, value in (("backend", backend), ("device", device), ("max_batch", max_batch),
                        ("threads", threads), ("eval_rows", eval_rows), ("tf32", tf32)):
        if value is not None:
            getattr(VAE, name).apply(choices, value)
    # The file is read once, by the library: the widths come from the trainer.
    return VAE._of(_libvae.Trainer.load_config(os.fspath(path), choices))
