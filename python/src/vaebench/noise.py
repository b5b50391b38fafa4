"""The case's noise fed to the model's own draws.

While a check runs the model's forward, every draw of standard normal noise -- torch.randn_like,
torch.randn, Tensor.normal_, torch.normal (which torch.distributions.Normal(...).rsample() and
Tensor.normal_ use) -- returns the case's eps instead, so the model is computed on exactly the
noise the reference uses. A draw of another distribution (torch.rand_like: uniform, a real bug in
public code), of an unexpected shape, or a number of draws other than one per forward is refused
naming the call and the shape. Dropout is refused too: it draws noise the reference has not.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

import torch
from torch.overrides import TorchFunctionMode

from .errors import VaeCheckError


def _name(func: Callable) -> str:
    return getattr(func, "__name__", str(func))


# Draws of standard normal noise, by the name __torch_function__ sees.
_NORMAL_DRAWS = {"randn_like", "randn", "normal_", "normal"}
# Draws of anything else (or of noise the reference does not have).
_OTHER_RANDOM = {
    "rand_like": "uniform noise",
    "rand": "uniform noise",
    "uniform_": "uniform noise",
    "randint": "integers",
    "randint_like": "integers",
    "bernoulli": "Bernoulli samples",
    "bernoulli_": "Bernoulli samples",
    "multinomial": "categorical samples",
    "exponential_": "exponential samples",
    "dropout": "dropout masks",
    "alpha_dropout": "dropout masks",
    "feature_alpha_dropout": "dropout masks",
    "dropout1d": "dropout masks",
    "dropout2d": "dropout masks",
    "dropout3d": "dropout masks",
}


class NoiseFeeder(TorchFunctionMode):
    """Within `with NoiseFeeder(eps):`, the model's standard normal draws return `eps` ([B, Z]).

    `draws` lists (call, shape) of every draw seen; `check_draws()` refuses any count but one."""

    def __init__(self, eps: Optional[torch.Tensor]):
        """eps None: the probe of a trace -- real standard normal draws of any shape, recorded."""
        super().__init__()
        self.eps = eps
        self.draws: List[Tuple[str, Tuple[int, ...]]] = []

    def _noise(self, call: str, shape: Tuple[int, ...], like: Optional[torch.Tensor]) -> torch.Tensor:
        self.draws.append((call, shape))
        if self.eps is None:
            return torch.randn(shape, dtype=like.dtype if like is not None else None,
                               device=like.device if like is not None else None)
        if shape != tuple(self.eps.shape):
            raise VaeCheckError(
                f"the model draws noise by {call} of shape {list(shape)}, where the reparameterization's "
                f"noise is [batch, latent] = {list(self.eps.shape)} (one standard normal value per image and "
                "latent dimension, drawn once per forward)")
        out = self.eps
        if like is not None:
            out = out.to(dtype=like.dtype, device=like.device)
        return out.clone()

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: Optional[dict] = None):
        kwargs = kwargs or {}
        name = _name(func)
        if name in _OTHER_RANDOM:
            if "dropout" in name:
                p = kwargs.get("p", args[1] if len(args) > 1 else 0.5)
                training = kwargs.get("training", args[2] if len(args) > 2 else True)
                if not training or p == 0:
                    return func(*args, **kwargs)
            shape = tuple(args[0].shape) if args and isinstance(args[0], torch.Tensor) else tuple(
                a for a in args if isinstance(a, int))
            raise VaeCheckError(
                f"the model draws {_OTHER_RANDOM[name]} by torch {name} (shape {list(shape)}) in its forward: the "
                "reference's reparameterization z = mu + exp(logvar / 2) * eps draws standard normal eps only "
                "(torch.randn_like); dropout must be off (p = 0) for a check")
        if name == "randn_like":
            return self._noise("torch.randn_like", tuple(args[0].shape), args[0])
        if name == "randn":
            size = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list, torch.Size)) else args
            like = torch.empty(0, dtype=kwargs.get("dtype") or torch.get_default_dtype(),
                               device=kwargs.get("device") or "cpu")
            return self._noise("torch.randn", tuple(int(s) for s in size), like)
        if name == "normal_":
            t = args[0]
            mean = kwargs.get("mean", args[1] if len(args) > 1 else 0.0)
            std = kwargs.get("std", args[2] if len(args) > 2 else 1.0)
            e = self._noise("Tensor.normal_", tuple(t.shape), t)
            with torch.no_grad():
                t.copy_(e * std + mean)
            return t
        if name == "normal" and args and isinstance(args[0], torch.Tensor):
            mean = args[0]
            std = kwargs.get("std", args[1] if len(args) > 1 else 1.0)
            shape = torch.broadcast_shapes(mean.shape, std.shape if isinstance(std, torch.Tensor) else ())
            return mean + std * self._noise("torch.normal", tuple(shape), mean)
        return func(*args, **kwargs)

    def check_draws(self, where: str) -> None:
        """Refuses a forward that drew no noise or drew it more than once."""
        if len(self.draws) == 1:
            return
        if not self.draws:
            raise VaeCheckError(
                f"{where}: the model drew no noise in its forward (training mode): the reparameterization "
                "z = mu + exp(logvar / 2) * eps must draw eps with torch.randn_like, torch.randn, Tensor.normal_ "
                "or torch.distributions.Normal(...).rsample()")
        calls = ", ".join(f"{c} {list(s)}" for c, s in self.draws)
        raise VaeCheckError(
            f"{where}: the model drew noise {len(self.draws)} times in one forward ({calls}); one draw of "
            "[batch, latent] per forward is what a check maps (K = 1)")
