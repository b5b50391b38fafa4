"""The objective a VAE's loss declares (model/objective.h, docs/objectives.md), in Python."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from .errors import VaeCheckError

_LIKELIHOODS = ("bernoulli", "gaussian", "continuous-bernoulli")


@dataclass(frozen=True)
class Objective:
    """What the loss computes, as the code writes it. The default is the summed ELBO of
    pytorch/examples' first VAE (BCE over pixels and images + KL).

    likelihood: "bernoulli" | "gaussian" | "continuous-bernoulli"
    batch, pixels: "sum" | "mean" -- how the loss reduces over images and over pixels
    bernoulli_input: "logits" | "probs" | None (None: read from the model -- a sigmoid at the
        decoder's output means probabilities)
    clamp: probabilities clamped to [c, 1 - c]; None: read from the model
    gaussian_constant, gaussian_half: the Gaussian's + log(sigma) + log(2 pi)/2 and its 1/2
    sigma: the Gaussian's fixed standard deviation
    kl_weight: a number W, or "batch/N" (PyTorch-VAE's M_N = B / N_train, given to its
        loss_function as M_N)
    beta: the KL's beta
    """

    likelihood: str = "bernoulli"
    batch: str = "sum"
    pixels: str = "sum"
    bernoulli_input: Optional[str] = None
    clamp: Optional[float] = None
    gaussian_constant: bool = True
    gaussian_half: bool = True
    sigma: float = 1.0
    kl_weight: Union[float, str] = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        def refuse(name: str, value: object, want: str) -> None:
            raise VaeCheckError(f"Objective({name}={value!r}): {want}")

        if self.likelihood not in _LIKELIHOODS:
            refuse("likelihood", self.likelihood, "choose from " + ", ".join(_LIKELIHOODS))
        for name in ("batch", "pixels"):
            if getattr(self, name) not in ("sum", "mean"):
                refuse(name, getattr(self, name), "choose from sum, mean")
        if self.bernoulli_input not in (None, "logits", "probs"):
            refuse("bernoulli_input", self.bernoulli_input, "choose from logits, probs (or None: from the model)")
        if self.likelihood != "bernoulli" and self.bernoulli_input is not None:
            refuse("bernoulli_input", self.bernoulli_input, f"applies to the Bernoulli, not the {self.likelihood}")
        if self.clamp is not None and not 0 <= self.clamp < 0.5:
            refuse("clamp", self.clamp, "must lie in [0, 0.5)")
        if self.likelihood == "gaussian" and self.clamp:
            refuse("clamp", self.clamp, "applies to probabilities (bernoulli, continuous-bernoulli), not the Gaussian")
        if self.likelihood != "gaussian" and (not self.gaussian_constant or not self.gaussian_half or self.sigma != 1):
            refuse("gaussian_constant/gaussian_half/sigma", None, f"apply to the Gaussian, not the {self.likelihood}")
        if not self.sigma > 0:
            refuse("sigma", self.sigma, "must be > 0")
        if isinstance(self.kl_weight, str):
            if not self.kl_weight.startswith("batch/") or not self.kl_weight[6:].isdigit() or int(
                    self.kl_weight[6:]) < 1:
                refuse("kl_weight", self.kl_weight, "a number, or 'batch/N' with N >= 1 (PyTorch-VAE's M_N)")
        elif not self.kl_weight >= 0:
            refuse("kl_weight", self.kl_weight, "must be >= 0")
        if not self.beta >= 0:
            refuse("beta", self.beta, "must be >= 0")

    def m_n(self, batch: int) -> float:
        """The KL weight for a batch of `batch` images (PyTorch-VAE's M_N under 'batch/N')."""
        if isinstance(self.kl_weight, str):
            return batch / int(self.kl_weight[6:])
        return float(self.kl_weight)

    def to_json(self, output_transform: str, clamp: float) -> dict:
        """The config's "objective" (model/objective.h) for a model whose decoder output goes
        through `output_transform` (none | sigmoid) clamped at `clamp`."""
        j: dict = {"batch": self.batch, "pixels": self.pixels, "kl_weight": self.kl_weight}
        model_input = "probs" if output_transform == "sigmoid" else "logits"
        c = clamp if self.clamp is None else self.clamp
        if self.likelihood == "bernoulli":
            if self.bernoulli_input is not None and self.bernoulli_input != model_input:
                raise VaeCheckError(
                    f"Objective(bernoulli_input={self.bernoulli_input!r}) contradicts the model: its decoder output "
                    f"is {'a sigmoid (probabilities)' if model_input == 'probs' else 'logits (no sigmoid)'}")
            j.update(bernoulli_input=model_input, clamp=c)
        elif self.likelihood == "continuous-bernoulli":
            j.update(clamp=c)
        else:
            j.update(gaussian_constant=self.gaussian_constant, gaussian_half=self.gaussian_half, sigma=self.sigma)
        if self.likelihood != "bernoulli" or model_input == "probs":
            if output_transform != "sigmoid":
                raise VaeCheckError(
                    f"the {self.likelihood}{' on probabilities' if self.likelihood == 'bernoulli' else ''} needs the "
                    "decoder's output through a sigmoid (the reference's mean is sigmoid(o)); this model's output "
                    "has none")
        if c and self.likelihood == "bernoulli" and model_input == "logits":
            raise VaeCheckError(f"Objective(clamp={c}) with logits: a clamp applies to probabilities")
        return j
