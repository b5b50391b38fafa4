"""The loss as real code calls and returns it.

Calling (the first rule that fits):
- loss None: the forward's output carries it (a pythae-style ModelOutput's .loss, a dict's "loss");
- a loss with *args (PyTorch-VAE's loss_function(*args, **kwargs)): loss(*forward_output, M_N=w),
  w the objective's KL weight for the batch;
- parameters named as VAEs name them -- recon_x / recon / x_hat / recons ..., x / data / input ...,
  mu / mean ..., logvar / log_var ... (pytorch/examples' loss_function(recon_x, x, mu, logvar)) --:
  called by name with the traced reconstruction, the input, mu and logvar;
- otherwise loss(forward_output, x).
Returning: a scalar; a tuple (loss, recon, kl); a dict ("loss", and recon / kl under the names
pythae, PyTorch-VAE and others use); an object with .loss (.recon_loss, .reg_loss). The values are
batch totals reduced as the objective declares; PyTorch-VAE's dict reports its KLD negated, read so.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch

from .errors import VaeCheckError

_RECON = {"recon_x", "recon", "x_hat", "xhat", "x_recon", "recon_batch", "recons", "reconstruction", "x_rec",
          "recon_x_logits", "logits", "x_logits", "output"}
_X = {"x", "data", "input", "inputs", "target", "x_true", "batch", "images"}
_MU = {"mu", "mean", "z_mean", "mu_z", "z_mu"}
_LOGVAR = {"logvar", "log_var", "logvariance", "z_log_var", "log_sigma2", "lv"}
_RECON_KEYS = ("recon", "recon_loss", "reconstruction_loss", "Reconstruction_Loss", "rec_loss", "bce", "mse", "nll")
_KL_KEYS = ("kl", "kld", "kl_loss", "KLD", "reg_loss", "kl_divergence")


@dataclass
class LossValue:
    loss: torch.Tensor  # the scalar differentiated
    recon: Optional[torch.Tensor]
    kl: Optional[torch.Tensor]
    form: str  # how the loss was read, for the result


def call_loss(loss: Optional[Callable], out: Any, x: torch.Tensor, parts: Dict[str, torch.Tensor],
              kl_weight: float) -> LossValue:
    """Calls the loss as its signature says (module docstring) and reads what it returns."""
    if loss is None:
        return read_value(out, "the forward's output (loss=None)")
    try:
        sig = inspect.signature(loss)
    except (TypeError, ValueError):
        sig = None
    params = list(sig.parameters.values()) if sig else []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        items = list(out) if isinstance(out, (tuple, list)) else [out]
        kwargs = {"M_N": kl_weight} if any(p.kind == p.VAR_KEYWORD for p in params) or "M_N" in sig.parameters else {}
        return read_value(loss(*items, **kwargs), f"{_name(loss)}(*forward(x), M_N={kl_weight:g})")
    by_name: Dict[str, Any] = {}
    for p in positional:
        for key, group in (("recon", _RECON), ("x", _X), ("mu", _MU), ("logvar", _LOGVAR)):
            if p.name in group:
                if key != "x" and key not in parts:
                    raise VaeCheckError(f"loss {_name(loss)}: its parameter '{p.name}' is the {key}, which the "
                                        "forward does not return")
                by_name[p.name] = x if key == "x" else parts[key]
    required = [p.name for p in positional if p.default is p.empty]
    if required and all(r in by_name or r == "M_N" for r in required) and any(
            r not in _X and r != "M_N" for r in required):
        if "M_N" in sig.parameters:
            by_name["M_N"] = kl_weight
        return read_value(loss(**by_name), f"{_name(loss)}({', '.join(by_name)})")
    if len(required) == 2 or (len(required) < 2 and len(positional) >= 2) or not sig:
        return read_value(loss(out, x), f"{_name(loss)}(output, x)")
    raise VaeCheckError(f"loss {_name(loss)}{sig}: cannot tell what to pass; name its parameters recon_x, x, mu, "
                        "logvar (as pytorch/examples' loss_function), take (output, x), take (*args, **kwargs) as "
                        "PyTorch-VAE's loss_function, or wrap it: loss=lambda out, x: my_loss(...)")


def _name(f: Callable) -> str:
    return getattr(f, "__qualname__", getattr(f, "__name__", type(f).__name__))


def _scalar(v: Any, what: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        v = torch.as_tensor(v)
    if v.numel() != 1:
        raise VaeCheckError(f"{what} has shape {list(v.shape)}: a scalar is what training differentiates; reduce it "
                            "over the batch as the training code does (and declare that reduction in the Objective)")
    if not torch.isfinite(v).all():
        raise VaeCheckError(f"{what} is {v.item()}: not finite")
    return v.reshape(())


def read_value(v: Any, form: str) -> LossValue:
    """A loss's return value as the loss and, where given, recon and KL totals."""
    recon = kl = None
    if isinstance(v, torch.Tensor):
        return LossValue(_scalar(v, f"the loss {form}"), None, None, form)
    if isinstance(v, (tuple, list)):
        if not v:
            raise VaeCheckError(f"the loss {form} returned an empty {type(v).__name__}")
        loss = _scalar(v[0], f"the loss {form}[0]")
        if len(v) >= 3:
            recon, kl = _scalar(v[1], f"{form}[1] (recon)"), _scalar(v[2], f"{form}[2] (kl)")
        return LossValue(loss, recon, kl, form + " -> (loss, recon, kl)" if len(v) >= 3 else form)
    d = dict(v) if isinstance(v, dict) else (vars(v) if hasattr(v, "__dict__") else None)
    if d is None or "loss" not in d:
        raise VaeCheckError(f"the loss {form} returned {type(v).__name__}: expected a scalar tensor, a tuple "
                            "(loss, recon, kl), a dict or an object with 'loss'")
    loss = _scalar(d["loss"], f"{form}['loss']")
    rk = next((k for k in _RECON_KEYS if k in d and isinstance(d[k], torch.Tensor)), None)
    kk = next((k for k in _KL_KEYS if k in d and isinstance(d[k], torch.Tensor)), None)
    if rk:
        recon = _scalar(d[rk], f"{form}[{rk!r}]")
    if kk:
        kl = _scalar(d[kk], f"{form}[{kk!r}]")
        # PyTorch-VAE's loss_function returns {'loss', 'Reconstruction_Loss', 'KLD': -kld_loss}.
        if kk == "KLD" and rk == "Reconstruction_Loss":
            kl = -kl
    return LossValue(loss, recon, kl, form + f" -> loss{', ' + rk if rk else ''}{', ' + kk if kk else ''}")
