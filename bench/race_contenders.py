"""The race's contenders (bench/race.py): how each framework takes an Adam
step, and where it has one, a whole epoch, from a setup the parent wrote.

Each maker is called in a worker process whose thread count is already
pinned (race_worker.py) and imports its framework only then, so a worker
loads one framework alone. It returns a Contender whose step(i) trains on
the setup's batch i under its epsilon i (libvae's own draw for its step i:
libvae_noise.py) and returns the loss as a Python float, so every contender
ends a step with its loss on the host."""
import functools
from typing import Callable, NamedTuple, Optional


class Contender(NamedTuple):
    step: Callable[[int], float]
    epoch: Optional[Callable[[], float]] = None  # one pass over setup["epoch_bytes"]; its mean loss
    version: str = ""


def _model(setup):
    return [int(h) for h in setup["hidden"]], int(setup["latent"]), int(setup["batch"])


def make_libvae(setup, threads):
    import libvae

    hidden, latent, batch = _model(setup)
    model = libvae.VAE(hidden=hidden, latent_dim=latent, max_batch=batch, backend="cpu",
                       seed=int(setup["seed"]), threads=threads)
    model.set_parameters(setup["parameters"])
    epoch = None
    if "epoch_bytes" in setup:
        data = model.dataset(setup["epoch_bytes"], "binarize")
        epoch = functools.partial(model.train_epoch, data, batch)
    return Contender(lambda i: model.train_step(setup["batches"][i]), epoch,
                     "libvae " + libvae.__version__)


def make_jax(setup, threads):
    import jax
    import jax.numpy as jnp
    import optax

    import vae_arrays

    adam = optax.adam(1e-3)  # torch.optim.Adam's defaults: betas (0.9, 0.999), eps 1e-8
    loss = functools.partial(vae_arrays.loss, xp=jnp)

    def update(params, moments, x, eps):
        value, grads = jax.value_and_grad(loss)(params, x, eps)
        updates, moments = adam.update(grads, moments)
        return optax.apply_updates(params, updates), moments, value

    params = jax.tree.map(jnp.asarray, vae_arrays.from_libvae(setup["state"]))
    state = {"params": params, "moments": adam.init(params), "epochs": 0}
    step_jit = jax.jit(update, donate_argnums=(0, 1))
    # Whole arrays on the device, so that a step dispatches no slicing.
    batches, eps = list(map(jnp.asarray, setup["batches"])), list(map(jnp.asarray, setup["eps"]))

    def step(i):
        state["params"], state["moments"], value = step_jit(
            state["params"], state["moments"], batches[i], eps[i])
        return float(value)

    epoch = _jax_epoch(update, state, setup) if "epoch_bytes" in setup else None
    return Contender(step, epoch, "jax %s, optax %s" % (jax.__version__, optax.__version__))


def _jax_epoch(update, state, setup):
    """One jit of a lax.scan over an epoch of setup["epoch_bytes"], whose
    update(params, moments, x, eps) steps state's params and moments."""
    import jax
    import jax.numpy as jnp

    _, latent, batch = _model(setup)
    images = jnp.asarray(setup["epoch_bytes"])
    steps = images.shape[0] // batch

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def scan_epoch(params, moments, key):
        # As libvae's epoch: a fresh order, binarization and epsilon each
        # epoch, all drawn on the device inside the one compiled loop.
        order_key, step_keys = jax.random.split(key)
        order = jax.random.permutation(order_key, images.shape[0]).reshape(steps, batch)

        def body(carry, xs):
            rows, k = xs
            bits_key, eps_key = jax.random.split(k)
            x = (jax.random.uniform(bits_key, (batch, images.shape[1]))
                 < images[rows] / 255.0).astype(jnp.float32)
            params, moments, value = update(*carry, x, jax.random.normal(eps_key, (batch, latent)))
            return (params, moments), value

        (params, moments), values = jax.lax.scan(
            body, (params, moments), (order, jax.random.split(step_keys, steps)))
        return params, moments, values.mean()

    def epoch():
        state["epochs"] += 1
        state["params"], state["moments"], value = scan_epoch(
            state["params"], state["moments"], jax.random.key(state["epochs"]))
        return float(value)

    return epoch


def _make_torch(setup, threads, compiled):
    import torch

    import pytorch_reference as ref

    torch.set_num_threads(threads)
    hidden, latent, _ = _model(setup)
    model = ref.VAE(hidden, latent)
    ref.load_libvae_state(model, setup["state"])
    step = ref.make_step(model, fused=True, compile_loss=compiled)
    batches, eps = torch.from_numpy(setup["batches"]), torch.from_numpy(setup["eps"])
    return Contender(lambda i: step(batches[i], eps[i]).item(), None, "torch " + torch.__version__)


CONTENDERS = {
    "libvae": make_libvae,
    "jax": make_jax,
    "torch-compile": functools.partial(_make_torch, compiled=True),
    "torch-eager": functools.partial(_make_torch, compiled=False),
}
