"""The objective: per-image losses and the batch objective under a config's declared objective."""
import math

import torch
import torch.nn.functional as F

from .config import DEFAULT_CONFIG, INPUT_DIM
from .errors import UsageError

# The objective as a config's "objective" declares it (impl/model/objective.h, docs/case-format.md);
# absent keys take the default's values (BCE with logits or the unit Gaussian with its constant, sums).
OBJECTIVE_DEFAULTS = {"batch": "sum", "pixels": "sum", "bernoulli_input": "logits", "clamp": 0.0,
                      "gaussian_constant": True, "gaussian_half": True, "sigma": 1.0, "kl_weight": 1.0}


def objective(cfg):
    """The config's objective with every key filled in; UsageError naming a key this peer does not know."""
    declared = cfg.get("objective", {})
    unknown = sorted(set(declared) - set(OBJECTIVE_DEFAULTS))
    if unknown:
        raise UsageError(f"objective: unknown keys {unknown} (known: {sorted(OBJECTIVE_DEFAULTS)})")
    return OBJECTIVE_DEFAULTS | declared


def kl_weight(cfg, batch):
    """The KL weight w for a batch of `batch` images: a number, or "batch/N" (PyTorch-VAE's M_N = B/N)."""
    w = objective(cfg)["kl_weight"]
    return batch / int(w[len("batch/"):]) if isinstance(w, str) else float(w)


def per_image_losses(cfg, logits, x, mu, logvar):
    """recon and KL per image under the config's objective; logits [B, D] or [K, B, D] (mean over K)."""
    o = objective(cfg)
    target = x.view(-1, cfg["input_dim"]).expand_as(logits)
    lik = cfg["likelihood"]
    if lik == "bernoulli" and o["bernoulli_input"] == "logits":
        nll = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    elif lik == "gaussian":
        nll = (0.5 if o["gaussian_half"] else 1.0) * (target - torch.sigmoid(logits)).square() / o["sigma"] ** 2
        if o["gaussian_constant"]:
            nll = nll + math.log(o["sigma"]) + 0.5 * math.log(2 * math.pi)
    elif lik in ("bernoulli", "continuous-bernoulli"):
        p = torch.sigmoid(logits)
        if o["clamp"] > 0:
            p = p.clamp(o["clamp"], 1 - o["clamp"])  # pytorch/examples' decode
        if lik == "bernoulli":
            nll = F.binary_cross_entropy(p, target, reduction="none")
        else:
            nll = -torch.distributions.ContinuousBernoulli(probs=p, validate_args=False).log_prob(target)
    else:
        raise UsageError(f"likelihood {lik!r}: this peer knows bernoulli, gaussian and continuous-bernoulli")
    nll = nll.mean(-1) if o["pixels"] == "mean" else nll.sum(-1)
    recon = nll.mean(0) if logits.dim() == 3 else nll
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
    return recon, kl


def vae_loss(logits, x, mu, logvar, cfg=DEFAULT_CONFIG):
    """(the batch objective whose gradient is taken, summed recon, summed KL), all in nats; the example's code
    for its configuration."""
    if cfg is DEFAULT_CONFIG:
        recon = F.binary_cross_entropy_with_logits(logits, x.view(-1, INPUT_DIM), reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return recon + kl, recon, kl
    recon, kl = per_image_losses(cfg, logits, x, mu, logvar)
    loss = recon + cfg["beta"] * kl_weight(cfg, recon.shape[0]) * kl
    total = loss.mean() if objective(cfg)["batch"] == "mean" else loss.sum()
    return total, recon.sum(), kl.sum()
