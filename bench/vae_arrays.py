"""pytorch_reference's VAE written once over an array module, NumPy or
jax.numpy: the JAX contender of the race differentiates this loss, and the
race's --dry-run evaluates it in NumPy to check the parameter mapping
without any framework.

Parameters are a dict of (kernel [in, out], bias) pairs per layer, JAX's
layout, taken from libvae's state_dict (PyTorch's nn.Linear names and
[out, in] weights)."""


def layer_names(state, part):
    """encoder.0, encoder.1, ... (or decoder.*) of a state_dict, in order."""
    count = sum(1 for name in state if name.startswith(part + ".") and name.endswith(".weight"))
    return ["%s.%d" % (part, i) for i in range(count)]


def from_libvae(state):
    """{'encoder': [(kernel, bias), ...], 'decoder': [...]} from
    libvae.VAE.state_dict(): each weight transposed to [in, out]."""
    return {part: [(state[name + ".weight"].T.copy(), state[name + ".bias"].copy())
                   for name in layer_names(state, part)]
            for part in ("encoder", "decoder")}


def _mlp(xp, layers, h):
    """ReLU between the layers, none after the last."""
    for kernel, bias in layers[:-1]:
        h = xp.maximum(h @ kernel + bias, 0)
    kernel, bias = layers[-1]
    return h @ kernel + bias


def loss(params, x, eps, xp):
    """Mean over rows of -log p(x|z) + KL(q(z|x) || N(0, I)), Bernoulli
    decoder, z = mu + exp(logvar / 2) eps: pytorch_reference.VAE.loss."""
    latent = eps.shape[1]
    out = _mlp(xp, params["encoder"], x)
    mu, logvar = out[:, :latent], out[:, latent:]
    logits = _mlp(xp, params["decoder"], mu + xp.exp(0.5 * logvar) * eps)
    # binary cross-entropy with logits, stable for large |logits|
    nll = (xp.logaddexp(0, logits) - x * logits).sum(axis=1)
    kl = 0.5 * (mu * mu + xp.exp(logvar) - logvar - 1).sum(axis=1)
    return (nll + kl).mean()
