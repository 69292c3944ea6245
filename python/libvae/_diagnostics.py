"""VAE's diagnostics of a trained model: how it uses its latents
(vae_latent_usage) and how far its bound is from log p(x), split into the
approximation and the amortization gap (vae_refine_posterior)."""
from typing import Any, Dict, Optional

import numpy as np

from . import _libvae
from ._arrays import as_array
from ._options import INT32, INT64, integer, real


class Diagnostics:
    """The diagnostics VAE inherits; they use its trainer (_trainer) and
    its calls (dataset, log_likelihood, _condition)."""

    _trainer: Any

    def latent_usage(self, data: Any, threshold: float = 0.01, mi_rows: int = 1000,
                     mi_samples: int = 1, transform: Optional[str] = None,
                     progress: Any = None, condition: Any = None) -> Dict[str, Any]:
        """How the model uses its latents over data (an array, as for
        dataset(), with its condition= for a conditional model; or a Dataset),
        from the encoder's outputs
        (vae_latent_usage): "kl" (the mean KL of each latent, an array),
        "activity" (Cov_x(E_q[z_u]) of each), "active" (activity > threshold,
        Burda et al. 2016), "active_units" (their count), "kl_total" (the
        ELBO's mean KL), "mutual_information" (I_q(x; z) of the aggregate
        posterior: the mean over min(mi_rows, n) evenly spaced rows and
        mi_samples draws z ~ q(z|x_i) of log q(z|x_i) - log q(z), q(z) the
        exact mixture over all n rows: unbiased for mi_rows >= n), its
        "mutual_information_std_error", and "marginal_kl" = KL(q(z) || p(z))
        = kl_total - mutual_information (Hoffman and Johnson 2016).
        progress(rows_encoded, rows_total, mean_kl) is called up to 65 times."""
        if not isinstance(data, _libvae.Dataset):
            data = self.dataset(data, transform, condition=condition)
        threshold = real(threshold, "threshold")
        kl, activity, active_units, kl_total, mi, mi_se, marginal = self._trainer.latent_usage(
            data, threshold, integer(mi_rows, "mi_rows", INT64),
            integer(mi_samples, "mi_samples", INT32), progress)
        return {"kl": kl, "activity": activity, "active": activity > threshold,
                "active_units": active_units, "kl_total": kl_total, "mutual_information": mi,
                "mutual_information_std_error": mi_se, "marginal_kl": marginal}

    def inference_gap(self, x: Any, steps: int = 100, k: int = 1000, samples: int = 1,
                      elbo_samples: int = 100, learning_rate: float = 0.01,
                      condition: Any = None) -> Dict[str, Any]:
        """How far the bound is from log p(x) on the rows of x, and whose
        fault it is (Cremer, Li and Duvenaud 2018): each row's q is refined
        by `steps` Adam steps on its own ELBO, the decoder fixed (the
        lecture's non-amortized E-step, vae_refine_posterior), and
          log p(x) - ELBO(encoder) = approximation_gap + amortization_gap,
          approximation_gap = log p(x) - ELBO(refined),
          amortization_gap  = ELBO(refined) - ELBO(encoder)
        (a lower bound: more steps may refine further). log p(x) is
        log_likelihood(x, k)'s importance-sampled estimate; each ELBO an
        elbo_samples-sample estimate, both under the same noise.

        Returns a dict of means over the rows: "log_px", "elbo_refined",
        "elbo_encoder", "approximation_gap", "amortization_gap", each with
        its standard error ("<name>_std_error": the spread of the rows'
        values over sqrt(n), which holds the Monte Carlo noise too; NaN for
        one row), and "rows": the per-row arrays (with "log_px_std_error",
        and the refined "mu" and "logvar")."""
        x = as_array(x, "x")
        condition = self._condition(condition)
        estimate = self.log_likelihood(x, k, stats=True, condition=condition)
        mu, logvar, elbo_encoder, elbo_refined = self._trainer.refine_posterior(
            x, integer(steps, "steps", INT32), integer(samples, "samples", INT32),
            integer(elbo_samples, "elbo_samples", INT32), float(learning_rate), condition)
        log_px = estimate["log_px"].astype(np.float64)
        rows = {"log_px": log_px, "log_px_std_error": estimate["std_error"],
                "elbo_refined": elbo_refined.astype(np.float64),
                "elbo_encoder": elbo_encoder.astype(np.float64),
                "approximation_gap": log_px - elbo_refined,
                "amortization_gap": elbo_refined.astype(np.float64) - elbo_encoder,
                "mu": mu, "logvar": logvar}
        result: Dict[str, Any] = {"rows": rows}
        for name in ("log_px", "elbo_refined", "elbo_encoder", "approximation_gap",
                     "amortization_gap"):
            values = rows[name]
            result[name] = float(np.mean(values))
            result[name + "_std_error"] = (float(np.std(values, ddof=1) / np.sqrt(len(values)))
                                           if len(values) > 1 else float("nan"))
        return result
