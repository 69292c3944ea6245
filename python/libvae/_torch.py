"""VAE.to_torch(): the model as a torch.nn.Module, for serving a model trained
by libvae inside a PyTorch program. Imported only when asked for."""
from typing import Optional, Tuple

import torch
from torch import nn


class TorchVAE(nn.Module):
    """libvae's network in PyTorch: encoder.i and decoder.i are nn.Linear named
    as the checkpoint's tensors (the encoder's last layer gives mu and log
    sigma^2 side by side), decoder.log_variance a learned Gaussian variance.
    With variance "decoder" the decoder's last layer is 2 input_dim wide: the
    means, then outputs o whose log variance is m + softplus(o - m), m =
    min_log_variance (decode_variance gives both). A learned prior
    (prior_components K >= 1) is held as prior.means (K, Z),
    prior.log_variances (K, Z) and prior.logits (K,), not used here. A
    conditional model (condition_dim C >= 1) takes each row's condition c,
    (n, C): encoder.0 reads torch.cat([x, c], 1) and decoder.0
    torch.cat([z, c], 1), as libvae does."""

    def __init__(self, input_dim: int, latent_dim: int, hidden: Tuple[int, ...], likelihood: str,
                 activation: str, log_variance_shape: Tuple[int, ...], variance: str = "fixed",
                 min_log_variance: float = -9.0, prior_components: int = 0,
                 condition_dim: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.condition_dim = condition_dim
        self.likelihood = likelihood
        self.input_dim = input_dim
        self.decoder_variance = likelihood == "gaussian" and variance == "decoder"
        self.min_log_variance = min_log_variance
        out = 2 * input_dim if self.decoder_variance else input_dim
        self.activation = torch.relu if activation == "relu" else torch.tanh
        widths = [input_dim + condition_dim, *hidden]
        self.encoder = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths, widths[1:])]
                                     + [nn.Linear(widths[-1], 2 * latent_dim)])
        back = [latent_dim + condition_dim, *reversed(hidden)]
        self.decoder = nn.ModuleList([nn.Linear(a, b) for a, b in zip(back, back[1:])]
                                     + [nn.Linear(back[-1], out)])
        if log_variance_shape:
            self.decoder.log_variance = nn.Parameter(torch.zeros(log_variance_shape))
        if prior_components > 0:
            self.prior = nn.Module()
            self.prior.means = nn.Parameter(torch.zeros(prior_components, latent_dim))
            self.prior.log_variances = nn.Parameter(torch.zeros(prior_components, latent_dim))
            self.prior.logits = nn.Parameter(torch.zeros(prior_components))

    def _joined(self, rows: torch.Tensor, condition: Optional[torch.Tensor]) -> torch.Tensor:
        """[rows | condition] for a conditional model, rows for another."""
        if (condition is None) != (self.condition_dim == 0):
            raise ValueError(f"condition: the model takes {self.condition_dim} condition values a "
                             f"row; give {'none' if self.condition_dim == 0 else 'them'}")
        return rows if condition is None else torch.cat([rows, condition], dim=-1)

    def encode(self, x: torch.Tensor,
               condition: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """q(z|x)'s mean and log variance."""
        h = self._joined(x, condition)
        for layer in self.encoder[:-1]:
            h = self.activation(layer(h))
        mu, logvar = self.encoder[-1](h).split(self.latent_dim, dim=-1)
        return mu, logvar

    def _output(self, z: torch.Tensor, condition: Optional[torch.Tensor]) -> torch.Tensor:
        h = self._joined(z, condition)
        for layer in self.decoder[:-1]:
            h = self.activation(layer(h))
        return self.decoder[-1](h)

    def decode(self, z: torch.Tensor, condition: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The decoder's means: Bernoulli probabilities, or Gaussian means."""
        out = self._output(z, condition)
        if self.decoder_variance:
            return out[..., :self.input_dim]
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def decode_variance(self, z: torch.Tensor, condition: Optional[torch.Tensor] = None
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """A Gaussian decoder's (means, log variances), each (n, input_dim)."""
        if self.likelihood != "gaussian":
            raise ValueError("decode_variance: a Bernoulli decoder has no variance")
        if self.decoder_variance:
            out = self._output(z, condition)
            mean, o = out[..., :self.input_dim], out[..., self.input_dim:]
            m = self.min_log_variance
            return mean, m + nn.functional.softplus(o - m)
        mean = self._output(z, condition)
        if hasattr(self.decoder, "log_variance"):
            return mean, self.decoder.log_variance.expand_as(mean)
        raise ValueError("decode_variance: the variance is fixed (VAE.log_variance)")

    def forward(self, x: torch.Tensor, condition: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(decoded means of z ~ q(z|x), mu, logvar), one sample per row."""
        mu, logvar = self.encode(x, condition)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z, condition), mu, logvar


def to_torch(model) -> TorchVAE:
    state = model.state_dict()
    log_variance = state.get("decoder.log_variance")
    module = TorchVAE(model.input_dim, model.latent_dim, model.hidden, model.likelihood,
                      model.activation, tuple(log_variance.shape) if log_variance is not None else (),
                      model.variance, model.min_log_variance, model.prior_components,
                      model.condition_dim)
    module.load_state_dict({name: torch.from_numpy(t.copy()) for name, t in state.items()}, strict=True)
    return module
